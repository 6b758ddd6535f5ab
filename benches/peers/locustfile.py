"""Locust peer: FastHttpUser hitting /track with no wait, as fast as it goes."""
from locust import FastHttpUser, constant, task


class Track(FastHttpUser):
    wait_time = constant(0)

    @task
    def track(self):
        self.client.get("/track")
