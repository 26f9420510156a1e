"""UDP plumbing shared by the network outputs (VMC, iFacialMocap).

`parse_endpoint` turns a `[HOST:]PORT` command-line value into a destination;
`UdpParamsSink` sends one datagram per frame from the first face on, and treats every
network problem as something to report once and then live with: a VTuber app is often
started after (or closed before) this one, and the avatar must keep running either way.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from abc import abstractmethod

from avatar_live.errors import AvatarLiveError
from avatar_live.outputs.base import Sink
from avatar_live.types import FaceParams, Packet

VMC_PORT = 39539
"""Where VSeeFace, VNyan and Warudo listen for the VMC protocol by default."""

IFACIALMOCAP_PORT = 49983
"""Where receivers of iFacialMocap's format (VSeeFace, VNyan, VBridger) listen."""

log = logging.getLogger(__name__)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def parse_endpoint(text: str, default_port: int, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """The (host, port) a `[HOST:]PORT` value names.

    Accepted: "39539" (default host), "host", "192.168.1.5" (default port), "host:39539",
    "[::1]:39539", "[::1]" and a bare IPv6 address such as "::1" (default port). Host
    names are checked for syntax only; resolving them is the sink's job.

    Raises:
        AvatarLiveError: (one line) when the value is empty, the port is not a number in
            1-65535, or the host is not a valid name or address.
    """
    spec = text.strip()

    def bad(reason: str) -> AvatarLiveError:
        return AvatarLiveError(f"invalid network address {text!r}: {reason} (expected [HOST:]PORT)")

    if not spec:
        raise bad("it is empty")
    port_text: str | None = None
    bracketed = spec.startswith("[")
    if bracketed:
        host, closed, rest = spec[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise bad("brackets must enclose an IPv6 address, as in [::1]:39539")
        port_text = rest[1:] if rest else None
    elif spec.isascii() and spec.isdigit():
        host, port_text = default_host, spec
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
    else:
        host = spec  # no colon: a host; several: a bare IPv6 address
    if not host:
        raise bad("the host is empty")
    if bracketed or ":" in host:
        if not _is_ip(host, version=6):
            raise bad(f"{host!r} is not an IPv6 address")
    elif not _valid_host(host):
        raise bad(f"{host!r} is not a host name or IPv4 address")
    if port_text is None:
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise bad(f"the port must be a number from 1 to 65535, got {port_text!r}")
    return host, int(port_text)


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _valid_host(host: str) -> bool:
    # All-numeric dotted names are IPv4 addresses to every resolver, so "999.1.1.1" is junk.
    if all(part.isdigit() for part in host.rstrip(".").split(".")):
        return _is_ip(host, version=4)
    return len(host) <= 253 and _HOSTNAME.fullmatch(host) is not None


class UdpParamsSink(Sink):
    """Encodes each packet's face parameters into one UDP datagram for another app.

    Nothing is sent before the first packet with a face; after that every packet is sent
    (the smoother eases the held values to neutral when the face is lost, and receivers
    should follow). Network trouble never raises: an unresolvable host, an unreachable
    network or a closed port (Linux reports the ICMP "port unreachable" of one datagram as
    ConnectionRefusedError on a later send) is logged once as a warning, and sending is
    retried every frame, so a receiver started later is picked up silently.

    Attributes:
        frames: datagrams the operating system accepted.
    """

    def __init__(self, host: str, port: int, protocol: str) -> None:
        self.name = f"{protocol} to {host}:{port}"
        self.frames = 0
        self._face_seen = False
        self._warned = False
        self._socket: socket.socket | None = None
        self._connected = False
        try:
            # Resolved once: a lookup can block for seconds, too long to retry per frame.
            found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:  # gaierror; UnicodeError for over-long labels
            self._warn(f"cannot resolve {host!r}: {getattr(exc, 'strerror', None) or exc}; sending nothing")
            return
        # IPv4 first: "localhost" often resolves to ::1 first, and VTuber apps listen on IPv4.
        family, _, _, _, self._address = min(found, key=lambda entry: entry[0] != socket.AF_INET)
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        # A full send buffer must drop a frame, not stall the output thread.
        self._socket.setblocking(False)

    @abstractmethod
    def encode(self, params: FaceParams, time: float) -> bytes:
        """One datagram for one frame's parameters (`time` in seconds)."""

    def write(self, packet: Packet) -> None:
        params = packet.params
        if params is None:
            raise ValueError(f"{type(self).__name__} needs encoded parameters")
        self._face_seen = self._face_seen or bool(params.face)
        if self._face_seen and self._socket is not None and self._send(self.encode(params, packet.frame.time)):
            self.frames += 1

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def commit(self) -> str:
        return f"{self.name} ({self.frames} datagrams)"

    def _send(self, datagram: bytes) -> bool:
        try:
            if not self._connected:
                # A connected UDP socket is told about ICMP errors; an unconnected one never is.
                self._socket.connect(self._address)
                self._connected = True
            self._socket.send(datagram)
        except OSError as exc:
            self._warn(f"cannot send: {exc.strerror or exc}; is the receiving app running and listening there?"
                       " Still trying, without further warnings")
            return False
        return True

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s: %s", self.name, message)
