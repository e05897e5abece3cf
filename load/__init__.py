"""Load campaigns (issue 9): locust vehicle users over raw TCP, campaign profiles with pass thresholds,
distributed runs on locust's own master/worker mode, and server-side truth through Control.

- `locustfile`: the locust `VehicleUser` (one simulated T-Box per user, the sans-IO terminal driven by
  the gevent driver), the shape and the campaign greenlet on the master, threshold evaluation;
- `profiles`: the campaign profiles (steady, rush-hour, outage, data-call, mixed-editions) and their
  thresholds;
- `platform`: the reference platforms (with Control) and a fault proxy in a subprocess, for
  `--target reference`;
- `cli`: `gbt32960 load`.

Nothing here imports locust or gevent at package import: only the locustfile does, in the processes
locust runs (it monkey-patches them).
"""
