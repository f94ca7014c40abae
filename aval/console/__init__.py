"""The web console of supervisors and inspectors: a client of the gateway in a browser.

It holds no rule of its own: every page is drawn from gateway calls made with the signed-in
person's own credentials, and every action is a gateway call that the gateway may refuse.
"""
