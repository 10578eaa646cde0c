"""The operator's command line: `yueban admin …`, talking to the core through the bus."""
