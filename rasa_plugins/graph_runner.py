"""Rasa's model graph run node after node in one thread, without building a dask graph per run.

Rasa 3.6 runs its model (the NLU pipeline when a message is parsed, the policies when the next
action is predicted) with `DaskGraphRunner`: on every run it works out which nodes the targets
need (a recursive walk that visits a shared node once per path to it, then a list membership
test per node), builds a dask task graph, and hands it to `dask.get`, dask's synchronous
scheduler, which orders the tasks again and keeps its own bookkeeping. All of that is the same
for every run with the same targets and inputs, and dask's scheduler then calls the nodes one at
a time in this thread anyway.

`SequentialGraphRunner` works out the nodes and their order once per (targets, input names) and
then calls them in that order: the same node objects, called with the same arguments in an order
that respects every dependency, with the same results and exceptions (a node's exception
propagates as dask's synchronous scheduler re-raises it; a `RuntimeError` becomes Rasa's
`GraphRunError`, as in `DaskGraphRunner.run`). Like dask, an input reaches the nodes as the pair
(name, value), and a need that names neither a node nor an input is passed as its own name.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner

logger = logging.getLogger(__name__)

# One step of a plan: the node's name and the names of what it needs, in argument order.
Step = tuple[str, tuple[str, ...]]


class SequentialGraphRunner(DaskGraphRunner):
    """`DaskGraphRunner` with each run's order of nodes worked out once and reused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Step]] = {}

    def run(
        self,
        inputs: dict[str, Any] | None = None,
        targets: list[str] | None = None,
    ) -> dict[str, Any]:
        """Runs the graph (see `GraphRunner.run`): the same results as `DaskGraphRunner`."""
        run_targets = list(targets) if targets else list(self._graph_schema.target_names)
        values: dict[str, Any] = {}
        if inputs:
            for name, value in inputs.items():
                if isinstance(value, str) and value in self._graph_schema.nodes:
                    # the same check (and words) as DaskGraphRunner._add_inputs_to_graph
                    raise GraphRunError(
                        f"Input value '{value}' clashes with a node name. Make sure "
                        f"that none of the input names passed to the `run` method are the "
                        f"same as node names in the graph schema."
                    )
                values[name] = (name, value)
        plan = self._plan(tuple(run_targets), tuple(values))

        if logger.isEnabledFor(logging.DEBUG):  # Rasa formats this on every run, logged or not
            logger.debug(
                f"Running graph with inputs: {inputs}, targets: {targets} "
                f"and {self._execution_context}."
            )
        try:
            for node_name, needs in plan:
                node = self._instantiated_nodes[node_name]
                values[node_name] = node(*(values.get(need, need) for need in needs))
            return dict(values[target] for target in run_targets)
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e

    def _plan(self, targets: tuple[str, ...], input_names: tuple[str, ...]) -> list[Step]:
        """The nodes the targets need, each after everything it needs (made once per key)."""
        key = (targets, input_names)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._order(targets, set(input_names))
            self._plans[key] = plan
        return plan

    def _order(self, targets: tuple[str, ...], input_names: set) -> list[Step]:
        nodes = self._graph_schema.nodes
        plan: list[Step] = []
        done: set = set()
        visiting: set = set()

        def visit(name: str) -> None:
            # an input given to this run replaces a node of the same name, as in the dask graph
            if name in done or name in input_names or name not in nodes:
                return
            if name in visiting:
                raise GraphRunError(f"The graph has a cycle through the node '{name}'.")
            visiting.add(name)
            needs = tuple(nodes[name].needs.values())
            for need in needs:
                visit(need)
            visiting.discard(name)
            done.add(name)
            plan.append((name, needs))

        for target in targets:
            visit(target)
        return plan
