"""GB/T 27930 (2011, 2015) charger <-> BMS communication: CAN ids, J1939 transport, messages,
sans-IO charger and BMS state machines, a session driver over python-can's virtual bus (simulated
clock), and real-time drivers (`bus`) for an external SUT and for our simulator served as one."""
