"""When things run: jobs, schedules, sensors, automation, and the Definitions object."""
