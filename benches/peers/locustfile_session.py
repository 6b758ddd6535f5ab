"""Locust peer: FastHttpUser running 5-page sessions (/, /p1 … /p4) in order
with no wait, as Throng's campaigns run them in benches/peers/campaign.sh."""
from locust import FastHttpUser, constant, task


class Session(FastHttpUser):
    wait_time = constant(0)

    @task
    def session(self):
        for path in ("/", "/p1", "/p2", "/p3", "/p4"):
            self.client.get(path)
