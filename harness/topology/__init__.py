"""Who plays which role where: embedded (in-process), docker (testcontainers), external SUT."""
