"""Code patterns that are right in Python but wrong once mypyc compiles them (docs/design.md,
"Writing code that compiles correctly"). Each test passes on the pure build and fails on the
compiled one if the pattern comes back; `make test` runs both. At the end, the patterns that
are right but slow once compiled ("What is slow only compiled"), checked on both builds."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import socket
import threading
from pathlib import Path
from types import FunctionType

import pytest

from pronghorn.build import COMPILED_MODULES, running_build
from pronghorn.dispatch.request_hooks import request_view, response_view
from pronghorn.http.connection import ConnectionState, ServerConnection
from pronghorn.http.events import BodyData, MessageEnd, ProtocolError, RequestHead
from pronghorn.http.parser import RequestParser
from pronghorn.http.uwsgi import UwsgiConnection, UwsgiHead
from pronghorn.io import reactor as reactor_module
from pronghorn.io.client import ClientConnection
from pronghorn.io.contracts import ChannelConnection, ConnectionHost, HeldConnection
from pronghorn.io.reactor import Reactor
from pronghorn.io.sockets import send_all
from pronghorn.wsgi.environ import EnvironBuilder, ServerFacts
from pronghorn.wsgi.proxies import TrustedProxies
from pronghorn.wsgi.runner import Outcome


def test_an_error_set_by_a_call_inside_feed_is_reported() -> None:
    # feed() must not narrow `_error` to None on entry: the head check below sets it.
    parser = RequestParser()
    events = parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert [type(event) for event in events] == [ProtocolError]
    assert parser.failed
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []


def test_an_error_after_a_good_request_in_the_same_read_is_reported() -> None:
    parser = RequestParser()
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    events = parser.feed(data)
    assert type(events[0]) is RequestHead
    assert type(events[-1]) is ProtocolError


def test_an_environ_builder_extends_without_copy_copy() -> None:
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "8443", url_scheme="https"))
    extended = builder.extended({"SSL_PROTOCOL": "TLSv1.3"})
    assert extended is not builder
    head = RequestParser().feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")[0]
    assert isinstance(head, RequestHead)
    environ = extended.build(head, ("127.0.0.1", 1), object(), object())
    assert environ["SSL_PROTOCOL"] == "TLSv1.3"
    assert "SSL_PROTOCOL" not in builder.build(head, ("127.0.0.1", 1), object(), object())


def test_hooks_may_add_attributes_to_the_request_and_response_they_get() -> None:
    # Instances of a compiled class take no new attributes: the views must not be one.
    head = RequestParser().feed(b"GET /a?b HTTP/1.1\r\nHost: a\r\n\r\n")[0]
    assert isinstance(head, RequestHead)
    request = request_view(head, ("127.0.0.1", 1))
    request.started = 1.5
    assert (request.path, request.query, request.started) == ("/a", "b", 1.5)
    response = response_view(Outcome(200, 2, True, [("Content-Length", "2")]))
    response.noted = True
    assert (response.status, response.sent, response.noted) == ("200 OK", 2, True)


def test_a_forwarded_header_with_no_element_leaves_the_environ_alone() -> None:
    # `Forwarded: ,` has no element: the walk over them must not find one at index -1.
    proxies = TrustedProxies(["*"], ["forwarded"])
    builder = EnvironBuilder(ServerFacts("127.0.0.1", "8000", proxies=proxies))
    head = RequestParser().feed(b"GET / HTTP/1.1\r\nHost: a\r\nForwarded: ,\r\n\r\n")[0]
    assert isinstance(head, RequestHead)
    environ = builder.build(head, ("127.0.0.1", 1), object(), object())
    assert (environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]) == ("127.0.0.1", "http")


def test_send_all_sends_each_byte_once_through_a_socket_that_fills() -> None:
    # Compiled, `view[send_some(sock, view):]` called send_some twice a pass of the loop:
    # every piece after the first went out twice (a pipelined response arrived twice,
    # tests/server/test_parked.py). 4 MiB through a 64 KiB buffer takes many passes.
    payload = b"".join(word.to_bytes(4, "big") for word in range(1 << 20))
    ours, theirs = socket.socketpair()
    received = bytearray()

    def read_to_end() -> None:
        while piece := theirs.recv(1 << 20):
            received.extend(piece)

    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        ours.setblocking(False)
        reader = threading.Thread(target=read_to_end)
        reader.start()
        send_all(ours, payload, 10.0)
        ours.shutdown(socket.SHUT_WR)
        reader.join(10.0)
    assert not reader.is_alive()
    assert len(received) == len(payload)
    assert received == payload


# Calls a slice bound may make: pure builtins, which give the same answer if called twice.
PURE_BOUND_CALLS = frozenset({"len", "min", "max"})


@pytest.mark.parametrize("module", COMPILED_MODULES)
def test_no_slice_bound_calls_a_function_with_effects(module: str) -> None:
    # Compiled, a slice of anything but a list, tuple, str or bytes (a memoryview, a
    # union) evaluates its bounds twice: mypyc tries its specialised slice first, and
    # when none fits the type it evaluates the bounds again for the generic one.
    path = Path(__file__).resolve().parents[2] / "src" / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice)):
            continue
        bounds = (node.slice.lower, node.slice.upper, node.slice.step)
        for inner in (n for bound in bounds if bound is not None for n in ast.walk(bound)):
            if isinstance(inner, ast.NamedExpr) or (
                isinstance(inner, ast.Call)
                and not (isinstance(inner.func, ast.Name) and inner.func.id in PURE_BOUND_CALLS)
            ):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert not found, f"{module}: compute the bound into a local first: {found}"


# Classes made on every request (or every body piece, or every refusal). A dataclass's
# `__init__` is written by the dataclasses module at import time, so mypyc cannot compile
# it: in the compiled build it runs interpreted, 0.8-3k instructions a call.
PER_REQUEST_CLASSES = (RequestHead, BodyData, MessageEnd, ProtocolError, UwsgiHead, Outcome)
# Dataclasses in compiled modules that are made per server, listener, file or connection.
# A new dataclass in a compiled module must be added here, knowing that its __init__ runs
# interpreted, or be written as a plain class.
NOT_PER_REQUEST = {
    "pronghorn.http.limits.ParserLimits",
    "pronghorn.http.proxy_protocol.ProxyHeader",
    "pronghorn.http.response.ResponsePlan",
    "pronghorn.wsgi.environ.ServerFacts",
    "pronghorn.static.cache.Representation",
    "pronghorn.static.cache.Entry",
    "pronghorn.static.codings.Sibling",
    "pronghorn.static.conditions.Validators",
    "pronghorn.static.paths.Mount",
    "pronghorn.static.paths.Refused",
    "pronghorn.static.paths.Located",
    "pronghorn.static.ranges.ByteRange",
    "pronghorn.static.responder.StaticOptions",
    "pronghorn.io.listeners.Listener",
    "pronghorn.io.protocols.ListenerProtocol",
}


@pytest.mark.parametrize("cls", PER_REQUEST_CLASSES, ids=lambda cls: cls.__name__)
def test_a_class_made_per_request_has_a_written_init(cls: type) -> None:
    assert not dataclasses.is_dataclass(cls)
    assert "__init__" in vars(cls)
    if running_build() == "compiled":
        # Compiled, a written __init__ is a slot wrapper, not a Python function.
        assert not isinstance(cls.__init__, FunctionType)


def test_every_dataclass_in_a_compiled_module_is_known_not_to_be_per_request() -> None:
    found = set()
    for name in COMPILED_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if dataclasses.is_dataclass(value) and value.__module__ == name:
                found.add(f"{name}.{value.__qualname__}")
    assert found == NOT_PER_REQUEST


def test_the_per_request_classes_say_what_they_hold() -> None:
    head = RequestParser().feed(b"GET /a?b HTTP/1.1\r\nHost: a\r\n\r\n")[0]
    assert repr(head).startswith("RequestHead(method='GET', target=b'/a?b', path=b'/a'")
    assert repr(MessageEnd([])) == "MessageEnd(trailers=[])"
    assert repr(ProtocolError(400, "bad")) == "ProtocolError(status=400, detail='bad')"
    assert repr(Outcome(200, 2, True, [])).startswith("Outcome(status=200, body_bytes=2")


def test_the_per_request_seams_are_base_classes_not_protocols() -> None:
    # Compiled, a call or attribute read through a Protocol type is a generic Python one
    # (~0.2-1k instructions); through a base class it is direct (docs/design.md).
    pairs = [
        (ServerConnection, ConnectionState),
        (UwsgiConnection, ConnectionState),
        (Reactor, ConnectionHost),
        (ClientConnection, ChannelConnection),
        (ClientConnection, HeldConnection),
    ]
    for subclass, base in pairs:
        assert not getattr(base, "_is_protocol", False), base
        assert base in subclass.__mro__, (subclass, base)


# What the reactor runs for every connection or request (docs/design.md, "What a new
# connection costs").
REACTOR_HOT_METHODS = (
    "_accept",
    "_take",
    "_socket_for",
    "_adopt",
    "_dispatch",
    "_claim",
    "_run",
    "_serve",
    "_close",
)


def test_the_reactors_hot_methods_enter_no_context_manager() -> None:
    # Compiled, `with` looks up and calls __enter__ and __exit__ generically (~0.4k
    # instructions); `contextlib.suppress` is three Python-level calls in either build.
    source = Path(reactor_module.__file__ or "").with_name("reactor.py").read_text()
    tree = ast.parse(source)
    methods = {
        node.name: node
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name == "Reactor"
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
    }
    for name in REACTOR_HOT_METHODS:
        withs = [node.lineno for node in ast.walk(methods[name]) if isinstance(node, ast.With)]
        assert withs == [], (name, withs)
