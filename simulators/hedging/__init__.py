"""Hedging engines that book the P&L of a hedge: delta hedging of an options book (policy,
compiled kernel, metrics), proxy hedging with several instruments, put and trend overlays."""
