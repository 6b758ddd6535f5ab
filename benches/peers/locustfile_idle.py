"""Locust peer for memory per idle user: FastHttpUser, 10 s between requests."""
from locust import FastHttpUser, constant, task


class IdleVisitor(FastHttpUser):
    wait_time = constant(10)

    @task
    def track(self):
        self.client.get("/track")
