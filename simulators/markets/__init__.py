"""Markets: simulated paths (crypto perpetual, GBM/Heston, stress paths with jumps), surrogate
histories without cointegration, and the loader of real daily prices."""
