"""rq's SimpleWorker with only what the contract needs (a Flask app context per job): the mail bench's
`stock` contender, so the gain of jobs/worker.py's FewerRoundTripsMixin is measured, not assumed."""
from rq.worker import SimpleWorker

from jobs.worker import AppContextMixin


class StockAppSimpleWorker(AppContextMixin, SimpleWorker):
    """AppSimpleWorker without FewerRoundTripsMixin."""
