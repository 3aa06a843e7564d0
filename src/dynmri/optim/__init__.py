"""Optimisation: pure solver loops (:mod:`.solvers`), proximal operators (:mod:`.prox`),
wavelet transforms (:mod:`.wavelets`) and the linear operators of regularisers
(:mod:`.linops`). Nothing here knows about MRI acquisitions."""
