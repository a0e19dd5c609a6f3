"""What runs the pipelines unattended: jobs, schedules and sensors."""
