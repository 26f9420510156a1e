"""How fast VMC bundles arrive at a receiver, against the frames the live app outputs.

    python benchmarks/vmc_rate.py [--source demo] [--seconds 10]

Runs `avatar-live --headless --vmc PORT` on the source and counts, on a UDP socket, the
bundles that arrive and the 52 blendshape values in each.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

from pythonosc.osc_packet import OscPacket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="demo")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.2)
    port = receiver.getsockname()[1]
    app = subprocess.Popen([sys.executable, "-m", "avatar_live", "--source", args.source, "--headless",
                            "--duration", str(args.seconds), "--vmc", str(port), "--size", "320x240"],
                           stderr=subprocess.PIPE, text=True)
    arrivals, shapes = [], set()
    while app.poll() is None:
        try:
            data = receiver.recv(65536)
        except socket.timeout:
            continue
        arrivals.append(time.perf_counter())
        for message in OscPacket(data).messages:
            if message.message.address == "/VMC/Ext/Blend/Val":
                shapes.add(message.message.params[0])
    report = app.stderr.read()
    if len(arrivals) < 2:
        sys.exit(f"no bundles arrived: {report}")
    span = arrivals[-1] - arrivals[0]
    print(f"{len(arrivals)} bundles in {span:.1f} s = {(len(arrivals) - 1) / span:.1f} per second, "
          f"{len(shapes)} blendshape names")
    print(next((line for line in report.splitlines() if line.startswith("live:")), report[-500:]))


if __name__ == "__main__":
    main()
