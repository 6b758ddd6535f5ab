"""An independent gRPC client (grpcio from PyPI) lists a node's services
through reflection v1alpha, as grpcio-reflection, Evans and older grpcurl
do, and asks the standard health service whether it is serving.

Usage: reflection_client.py HOST:PORT
Prints one JSON object: {"services": [...], "health": "SERVING", "methods": [...]}.
"""

import json
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from google.protobuf import descriptor_pb2


def main(address: str) -> None:
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=10)
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

    def ask(request):
        return next(iter(reflection.ServerReflectionInfo(iter([request]), timeout=10)))

    listed = ask(reflection_pb2.ServerReflectionRequest(list_services=""))
    services = sorted(s.name for s in listed.list_services_response.service)

    # The control service's methods, from the file descriptor that defines it.
    methods = []
    if "throng.v1.ControlService" in services:
        answer = ask(
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="throng.v1.ControlService")
        )
        for raw in answer.file_descriptor_response.file_descriptor_proto:
            file = descriptor_pb2.FileDescriptorProto.FromString(raw)
            for service in file.service:
                if service.name == "ControlService":
                    methods = sorted(m.name for m in service.method)

    health = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=10
    )
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(health.status)
    print(json.dumps({"services": services, "health": status, "methods": methods}))


if __name__ == "__main__":
    main(sys.argv[1])
