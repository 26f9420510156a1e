"""Live mailboxes drop stale items; offline channels keep every item in order."""

import threading
import time

import pytest

from avatar_live.pipeline.channels import Closed, LatestMailbox, OrderedChannel


def test_mailbox_keeps_only_the_newest():
    box = LatestMailbox()
    for i in range(5):
        box.put(i)
    assert box.get(timeout=0) == 4
    assert box.dropped == 4
    assert box.get(timeout=0.01) is None


def test_mailbox_never_blocks_the_producer():
    box = LatestMailbox()
    producer = threading.Thread(target=lambda: [box.put(i) for i in range(10_000)], daemon=True)
    producer.start()
    producer.join(5)  # a blocking put fails the test here instead of hanging it
    assert not producer.is_alive()
    assert box.get(timeout=0) == 9_999


def test_ordered_channel_applies_back_pressure_and_keeps_order():
    channel = OrderedChannel(2)
    received = []

    def consume():
        while True:
            try:
                item = channel.get(timeout=1)
            except Closed:
                return
            if item is not None:
                received.append(item)
                time.sleep(0.001)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(200):
        channel.put(i)
        assert len(channel._items) <= 2
    channel.close()
    consumer.join(5)
    assert received == list(range(200))


@pytest.mark.parametrize("make", [LatestMailbox, lambda: OrderedChannel(3)])
def test_close_drains_then_raises(make):
    channel = make()
    channel.put("last")
    channel.close()
    assert channel.get(timeout=0) == "last"
    with pytest.raises(Closed):
        channel.get(timeout=0)
    with pytest.raises(Closed):
        channel.put("late")


def test_close_wakes_a_blocked_producer():
    channel = OrderedChannel(1)
    channel.put(0)
    errors = []

    def produce():
        try:
            channel.put(1)
        except Closed as exc:
            errors.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.05)
    channel.close()
    producer.join(1)
    assert not producer.is_alive() and errors
