"""wacd's gRPC API driven from Python the way a controller drives it: one
connection kept open, each change one Apply or Delete call.

Messages are built with python-protobuf from a descriptor set that protoc
(protobuf-compiler, a build dependency) makes of api/proto/wac/v1/wac.proto,
so this module follows the proto without generated code in the repository.
Resources are given as the same dicts the YAML helpers emit (wacnet.to_yaml,
cluster.py's documents): kind, metadata, spec.

Needs python3-grpcio (packaging/install-deps.sh); used by test_soak.py and
the benchmarks under test/bench.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parents[2] / "api" / "proto"
_MESSAGES = ("ApplyRequest", "DeleteRequest", "StatusRequest", "StatusResponse")
_classes: dict = {}

# Requests of a whole large cluster (100,000 endpoints) exceed gRPC's 4 MiB default.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 256 << 20), ("grpc.max_send_message_length", 256 << 20)]


def message_classes() -> dict:
    """wac.v1 message classes by name (built once per process)."""
    if not _classes:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "wac.pb"
            subprocess.run(["protoc", f"-I{PROTO_DIR}", "--include_imports", f"--descriptor_set_out={out}",
                            "wac/v1/wac.proto"], check=True)
            files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
        pool = descriptor_pool.DescriptorPool()
        for f in files.file:
            pool.Add(f)
        make = getattr(message_factory, "GetMessageClass", None)  # protobuf >= 4 has it, Debian 12's 3.21 not
        for name in _MESSAGES:
            d = pool.FindMessageTypeByName(f"wac.v1.{name}")
            _classes[name] = make(d) if make else message_factory.MessageFactory(pool).GetPrototype(d)
    return _classes


def _proto_json(value):
    """A YAML document's body as proto3 JSON: ports are strings in wac.proto."""
    if isinstance(value, dict):
        return {k: ([str(p) for p in v] if k == "ports" else _proto_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_proto_json(v) for v in value]
    return value


def _oneof_name(kind: str) -> str:
    return kind[0].lower() + kind[1:]   # GlobalNetworkPolicy -> globalNetworkPolicy


def apply_request(docs) -> bytes:
    """Serialized ApplyRequest carrying `docs` (all or nothing)."""
    from google.protobuf import json_format
    resources = [{_oneof_name(d["kind"]): _proto_json({k: v for k, v in d.items() if k in ("metadata", "spec")})}
                 for d in docs]
    msg = json_format.ParseDict({"resources": resources}, message_classes()["ApplyRequest"]())
    return msg.SerializeToString()


def delete_request(docs) -> bytes:
    """Serialized DeleteRequest for the resources `docs` name."""
    from google.protobuf import json_format
    refs = [{"kind": d["kind"], "namespace": d["metadata"].get("namespace", ""), "name": d["metadata"]["name"]}
            for d in docs]
    return json_format.ParseDict({"refs": refs}, message_classes()["DeleteRequest"]()).SerializeToString()


class Controller:
    """One gRPC connection to wacd's unix socket, kept open."""

    def __init__(self, socket_path, timeout: float = 600.0):
        import grpc
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix:{socket_path}", options=CHANNEL_OPTIONS)
        self._calls = {m: self.channel.unary_unary(f"/wac.v1.Wac/{m}") for m in ("Apply", "Delete", "Status")}

    def call(self, method: str, request: bytes) -> bytes:
        return self._calls[method](request, timeout=self.timeout)

    def apply(self, docs) -> None:
        self.call("Apply", apply_request(docs))

    def delete(self, docs) -> None:
        self.call("Delete", delete_request(docs))

    def status(self) -> dict:
        """StatusResponse as a dict (proto3 JSON names, 64-bit counters as strings)."""
        from google.protobuf import json_format
        answer = message_classes()["StatusResponse"].FromString(self.call("Status", b""))
        return json_format.MessageToDict(answer)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Controller":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Paced:
    """Calls step(k) for k = 0, 1, ... at `rate` a second for `seconds` (or
    until stop is set), as a controller applying changes one after another
    does: step k is due at start + k / rate; a late step runs at once, so a
    slow call lowers the achieved rate only if calls stay slower than 1/rate.
    Counts the steps, the slowest one and how far behind schedule it fell."""

    def __init__(self, rate: float, seconds: float, step):
        self.rate, self.seconds, self.step = rate, seconds, step
        self.stop = threading.Event()
        self.steps, self.slowest, self.behind = 0, 0.0, 0.0
        self.elapsed = 0.0

    def run(self) -> "Paced":
        start = time.monotonic()
        while not self.stop.is_set() and time.monotonic() - start < self.seconds:
            wait = start + self.steps / self.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                self.behind = max(self.behind, -wait)
            t = time.monotonic()
            self.step(self.steps)
            self.slowest = max(self.slowest, time.monotonic() - t)
            self.steps += 1
        self.elapsed = time.monotonic() - start
        return self


class EndpointChurn:
    """Endpoint changes from a pool of WorkloadEndpoint documents: change k
    applies pool[k % n] if it is absent and deletes it if present, so the
    pool fills, empties and fills again and the stored state stays bounded."""

    def __init__(self, controller: Controller, pool: list):
        self.controller, self.pool = controller, pool
        self.present = [False] * len(pool)

    def change(self, k: int) -> None:
        i = k % len(self.pool)
        (self.controller.delete if self.present[i] else self.controller.apply)([self.pool[i]])
        self.present[i] = not self.present[i]
