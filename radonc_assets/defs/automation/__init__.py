"""The automation capability: sensors, schedules and failure alerts of each site."""
