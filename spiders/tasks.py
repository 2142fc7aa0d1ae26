"""Distributed crawling on Celery: the scheduler sends batches of due sources to a broker
(RabbitMQ or Redis) and any number of ``newswatch worker`` processes crawl them into the
shared store.

Nothing is lost when a worker dies: tasks are acknowledged only after they finish
(``acks_late``) and a task whose worker process was lost is given back to the broker
(``reject_on_worker_lost``); with RabbitMQ the broker hands it to another worker as soon as
the dead worker's connection closes. A crawl done twice stores nothing twice (items have
unique keys). Operators watch workers and queues with Celery's own tools (``celery
inspect``, ``celery events``, Flower) or the RabbitMQ management page.
"""

from __future__ import annotations

from typing import Any, Optional

from celery import Celery

from newswatch.spiders.job import CrawlJob
from newswatch.spiders.runner import LogSettings, run_crawl

TASK = "newswatch.crawl_batch"


def make_app(broker_url: str, queue: str) -> Celery:
    app = Celery("newswatch", broker=broker_url, backend="rpc://" if broker_url.startswith("amqp") else broker_url)
    app.conf.update(
        task_acks_late=True,                    # acknowledge after the crawl, not when it starts
        task_reject_on_worker_lost=True,        # a killed worker's task goes back to the queue
        worker_prefetch_multiplier=1,           # a worker holds only the batches it is crawling
        task_default_queue=queue,
        task_serializer="json", result_serializer="json", accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        result_expires=6 * 3600,
        broker_transport_options={"visibility_timeout": 3 * 3600},   # Redis broker: redeliver after this
    )

    @app.task(name=TASK, bind=True)
    def crawl_batch(self: Any, job_json: str) -> list[str]:
        job = CrawlJob.from_json(job_json)
        results = run_crawl(job.sources, job.crawl, job.storage_url, verbose=job.verbose,
                            logs=LogSettings(job.log_level, job.log_format), scrapy=job.scrapy)
        return [r.to_json() for r in results]

    return app


def run_worker(app: Celery, queue: str, concurrency: int, hostname: Optional[str] = None,
               max_tasks: Optional[int] = None) -> int:
    """A worker in this process; each task crawls in child processes, so threads suffice."""
    argv = ["worker", "--pool=threads", f"--concurrency={concurrency}", f"--queues={queue}",
            "--without-gossip", "--without-mingle", "--loglevel=WARNING"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if max_tasks:
        argv.append(f"--max-tasks-per-child={max_tasks}")
    app.worker_main(argv)
    return 0
