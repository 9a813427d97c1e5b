"""Work-arounds for pynetdicom behaviour, seen with pynetdicom 3.0.4.

Each one records what was seen and why it is needed; when pynetdicom is
upgraded, re-check them here (the tests in ``tests/resources`` exercise each).

- Nagle's algorithm: pynetdicom leaves it on for requestor sockets, which delays
  every small C-STORE to Orthanc.
- Identifier logging: pynetdicom pretty-prints every identifier for its INFO log
  even when INFO is off, a large share of the time of a large C-FIND.
- Rejections reported as aborts: when the peer closes the connection right after
  its A-ASSOCIATE-RJ, the state machine sometimes reports an abort (often against
  dcmqrscp); the rejection PDU it decoded is kept instead.

The figures behind these are in docs/benchmarks.md, "Figures behind design choices".
- Responses dropped by the reactor: between two DIMSE operations on one
  association the reactor thread can take a response off the queue and drop it.
"""

import socket
from typing import Any

from pynetdicom import AE, _config
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_RJ
from pynetdicom.transport import AssociationSocket

# Send files as they are encoded, in PDU-sized chunks, instead of decoding them first.
_config.STORE_SEND_CHUNKED_DATASET = True
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False


class NoDelayAE(AE):
    """An AE whose requestor sockets disable Nagle's algorithm (``TCP_NODELAY``)."""

    def _create_socket(self, assoc: Association, address: Any, tls_args: Any) -> AssociationSocket:
        sock = super()._create_socket(assoc, address, tls_args)
        if sock.socket is not None:
            sock.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


class RejectionRecorder:
    """An ``EVT_PDU_RECV`` handler keeping the A-ASSOCIATE-RJ a peer sent.

    pynetdicom sometimes reports a rejection as an abort (its state machine sees
    the peer close the connection before handling the A-ASSOCIATE-RJ it has
    already decoded); the kept PDU tells what really happened.
    """

    def __init__(self) -> None:
        self.rejection: A_ASSOCIATE_RJ | None = None

    def __call__(self, event: Event) -> None:
        """Keep `event`'s PDU when it is a rejection."""
        if isinstance(event.pdu, A_ASSOCIATE_RJ):
            self.rejection = event.pdu


def keep_responses_from_the_reactor(assoc: Association) -> None:
    """Stop the association reactor from dropping DIMSE responses.

    Between two DIMSE operations on one association, the reactor thread can take
    the first response to the next request off the message queue and drop it as an
    "unexpected service message" (seen here about once per 2,000 C-FIND queries on
    loopback), silently shortening a C-FIND answer or stalling a C-STORE until the
    DIMSE timeout. Responses are never requests the reactor could serve: put them
    back at the head of the queue, where the operation waiting for them finds them.
    """
    serve_request = assoc._serve_request
    messages = assoc.dimse.msg_queue

    def serve_or_requeue(msg: Any, context_id: int) -> None:
        if msg.is_valid_response:
            with messages.mutex:
                messages.queue.appendleft((context_id, msg))
                messages.not_empty.notify()
            return
        serve_request(msg, context_id)

    assoc._serve_request = serve_or_requeue  # type: ignore[method-assign]
