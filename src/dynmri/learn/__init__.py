"""Learning without (or with) ground truth: training losses (:mod:`.losses`), the group
transforms of equivariant imaging (:mod:`.transforms`), network training (:mod:`.train`) and
k-space trajectory learning (:mod:`.trajectory`)."""
