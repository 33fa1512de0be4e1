"""Runtime: hardware detection, runner processes, scheduler and the HTTP API."""
