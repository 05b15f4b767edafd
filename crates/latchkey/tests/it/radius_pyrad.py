"""A RADIUS conversation with pyrad, for the integration tests (crates/latchkey/tests/it/radius.rs).

usage: radius_pyrad.py --port P --secret S USER ANSWER [ANSWER...]

Sends USER with the first ANSWER as PAP User-Password (with a Message-Authenticator, as pyrad
does by default). While the reply is an Access-Challenge and answers remain, sends the next
ANSWER with the challenge's State echoed. The client runs with enforce_ma=True: a reply without
a valid Message-Authenticator (or with a wrong Response Authenticator) is discarded, which shows
up as a timeout.

Prints one JSON object per reply: {"code": "Access-Challenge", "message": "...", "state": "hex"}.
Exit 0 when every request got a valid reply, 3 on a timeout.
"""
import argparse
import json
import os
import sys

import pyrad.packet as P
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

NAMES = {P.AccessAccept: "Access-Accept", P.AccessReject: "Access-Reject",
         P.AccessChallenge: "Access-Challenge"}

ap = argparse.ArgumentParser()
ap.add_argument("--server", default="127.0.0.1")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--secret", required=True)
ap.add_argument("--calling-station-id")
ap.add_argument("user")
ap.add_argument("answers", nargs="+")
a = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
client = Client(server=a.server, authport=a.port, secret=a.secret.encode(),
                dict=Dictionary(os.path.join(here, "radius.dict")),
                retries=2, timeout=3, enforce_ma=True)


def send(password, state):
    req = client.CreateAuthPacket(code=P.AccessRequest, User_Name=a.user)
    req["User-Password"] = req.PwCrypt(password)
    req["NAS-Identifier"] = "pyrad-it"
    if a.calling_station_id:
        req["Calling-Station-Id"] = a.calling_station_id
    if state is not None:
        req["State"] = state
    return client.SendPacket(req)


state = None
try:
    for i, answer in enumerate(a.answers):
        rep = send(answer, state)
        message = "".join(rep["Reply-Message"]) if "Reply-Message" in rep else ""
        state = rep["State"][0] if "State" in rep else None
        print(json.dumps({"code": NAMES.get(rep.code, str(rep.code)), "message": message,
                          "state": state.hex() if state is not None else None}), flush=True)
        if rep.code != P.AccessChallenge:
            break
except Timeout:
    print(json.dumps({"code": "timeout"}), flush=True)
    sys.exit(3)
