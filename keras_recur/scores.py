"""The log-score of what must never be chosen: one constant for the CRF's
forbidden transitions and the decoders' forbidden tokens and beam slots."""

# Far below any real log-score (a sequence of real log-probabilities would
# need millions of steps to reach it) yet finite, so that sums,
# log-sum-exps and their gradients through it stay finite: exp(NEVER - x)
# is exactly 0 in float32, so whatever scores NEVER drops out of a
# normaliser (the CRF's Z) exactly. -inf is safe instead only where scores
# are compared and never subtracted (Viterbi's max and argmax, top_k), and
# is what results report for a forbidden choice.
NEVER = -1e9
