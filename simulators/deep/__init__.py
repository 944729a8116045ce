"""Deep hedging: the hedger network, its P&L accounting and loss, Lightning training, and the
classical hedges it must beat."""
