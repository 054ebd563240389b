"""The pages, one module each; ``ROUTES`` collects their routes."""

from . import agreement, corpus, document, queue, reviewer, workbench

ROUTES = [*reviewer.routes, *queue.routes, *agreement.routes, *workbench.routes, *document.routes, *corpus.routes]
