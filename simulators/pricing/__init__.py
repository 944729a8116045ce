"""Pricing and greeks: Black-Scholes, Heston, a stated implied-vol model, an options book."""
