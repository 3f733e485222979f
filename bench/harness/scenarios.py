"""The benchmark scenarios: what the mock enforces and what the clients are told.

Rates are per second here (the mock and the clients take per-minute values).
`server_rps`/`server_tps` is what the mock enforces, `client_rps`/`client_tps` what the
clients are told; they differ only in the over-limit scenario.
"""
import math
from dataclasses import dataclass


@dataclass
class Scenario:
    name: str
    n: int
    concurrency: int
    latency_ms: int
    server_rps: float = 0.0       # 0: no limit
    client_rps: float = 0.0
    server_tps: float = 0.0       # tokens per second
    client_tps: float = 0.0
    faults: str = ""
    prompt_chars: tuple = (0, 0)  # (min, max) extra characters of filler after the first line
    server: str = "mock"          # "gateway": nginx limit_req (harness/gateway.py)
    server_burst: int = 0         # the gateway's limit_req burst
    tls: bool = False             # the server behind TLS (self-signed CA), HTTP/2 offered

    # Per-minute values, as the mock and the clients take them (whole numbers).
    @property
    def server_rpm(self):
        return round(self.server_rps * 60)

    @property
    def server_tpm(self):
        return round(self.server_tps * 60)

    @property
    def client_rpm(self):
        return round(self.client_rps * 60)

    @property
    def client_tpm(self):
        return round(self.client_tps * 60)

    def lower_bound(self, total_tokens):
        """max(N/R, T/TR, ceil(N/C)*L): the server's rate, its token rate, and latency."""
        bound = math.ceil(self.n / self.concurrency) * self.latency_ms / 1000.0
        if self.server_rps:
            bound = max(bound, self.n / self.server_rps)
        if self.server_tps:
            bound = max(bound, total_tokens / self.server_tps)
        return bound

    def hinted_floor(self, bound, hinted):
        """The earliest any client honouring the server's hints can finish: the k-th
        request the server receives cannot arrive before floor((k-1)/C)*L (C requests at a
        time, each taking L), so a 429 naming a wait H at arrival k ends no sooner than
        (floor((k-1)/C)+1)*L + H + L (its answer, the wait, then the retry). `hinted`: the
        mock's [[k, H ms], ...]; the floor is the largest of those and `bound`."""
        latency = self.latency_ms / 1000.0
        return max([bound] + [((k - 1) // self.concurrency + 1) * latency + ms / 1000.0 + latency
                              for k, ms in hinted])


# The faults of the issue: 2% 429 with RetryInfo 1 s, 2% 503, 1.5% connection resets.
FAULTS = "503:0.02,reset:0.015,429:1s:0.02"


def scenarios(quick):
    """The list of scenarios; quick mode shrinks N (and the token scenario's quota, so that
    it stays token-bound while lasting seconds instead of minutes)."""
    def n(full, small):
        return small if quick else full
    tps = 60000 / 60.0
    # The rate-bound and over-limit scenarios meet nginx's limit_req, whose burst the
    # clients are not told: none, 5 and 50 requests.
    out = [
        Scenario("rate-bound", n(600, 200), 32, 100, server_rps=50, client_rps=50,
                 server="gateway", server_burst=5),
        Scenario("rate-bound-burst0", n(600, 200), 32, 100, server_rps=50, client_rps=50,
                 server="gateway", server_burst=0),
        Scenario("rate-bound-burst50", n(600, 200), 32, 100, server_rps=50, client_rps=50,
                 server="gateway", server_burst=50),
        Scenario("latency-bound", n(2000, 500), 64, 50),
        # The same through TLS, with HTTP/2 offered: what https costs each client in CPU.
        Scenario("latency-bound-tls", n(2000, 500), 64, 50, tls=True),
    ]
    for size in ((20000, 100000) if not quick else (5000,)):
        out.append(Scenario("large-%dk" % (size // 1000), size, 256, 20))
    out += [
        Scenario("faults", n(2000, 500), 64, 50, faults=FAULTS),
        # Prompts of 200 to 1,000 characters: with the output budget that is about 128,000
        # tokens for 600 requests, two minutes at 60,000 tokens/min (4,000-character prompts
        # would make it six minutes for each contender).
        Scenario("tokens", n(600, 100), 32, 100,
                 server_tps=tps * (10 if quick else 1), client_tps=tps * (10 if quick else 1),
                 prompt_chars=(200, 1000)),
        Scenario("over-limit", n(600, 200), 32, 100, server_rps=50, client_rps=60,
                 server="gateway", server_burst=5),
    ]
    return out
