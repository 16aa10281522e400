"""Linear probes on frozen representations (scikit-learn estimator conventions).

* ``solver="lbfgs"`` (default, fast): multinomial logistic regression with an L2 penalty on standardised
  features, full-batch L-BFGS. Same objective as scikit-learn's ``LogisticRegression(C=C)``:
  ``C · sum_i CE_i + ||W||² / 2`` (bias not penalised).
* ``solver="adam"`` (the paper's protocol): a freshly initialised linear layer trained with Adam
  (lr 1e-3, 25 epochs, batch 512, no weight decay) on the raw features.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from invmeter.errors import InvalidParameterError

__all__ = ["LinearProbe", "PROBE_SOLVERS"]

PROBE_SOLVERS = ("lbfgs", "adam")


def _as_tensor(x: Tensor | np.ndarray) -> Tensor:
    return x if isinstance(x, Tensor) else torch.from_numpy(np.asarray(x))


class LinearProbe:
    """A linear classifier fit on fixed features.

    Args:
        solver: ``"lbfgs"`` (regularised logistic regression) or ``"adam"`` (the paper's last-layer fine-tuning).
        C: Inverse L2 strength for ``lbfgs`` (scikit-learn's meaning).
        max_iter: L-BFGS iterations.
        epochs: Adam epochs over the training features.
        lr: Adam learning rate.
        batch_size: Adam mini-batch size.
        standardize: Scale features to zero mean, unit variance using training statistics (default: on for
            ``lbfgs``, off for ``adam`` as in the paper).
        random_state: Seed for initialisation and mini-batch order.
    """

    def __init__(
        self,
        *,
        solver: str = "lbfgs",
        C: float = 1.0,
        max_iter: int = 200,
        epochs: int = 25,
        lr: float = 1e-3,
        batch_size: int = 512,
        standardize: bool | None = None,
        random_state: int = 0,
    ) -> None:
        self.solver = solver
        self.C = C
        self.max_iter = max_iter
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.standardize = standardize
        self.random_state = random_state

    def _check(self) -> None:
        if self.solver not in PROBE_SOLVERS:
            raise InvalidParameterError(f"The 'solver' parameter of LinearProbe must be one of {PROBE_SOLVERS}. Got {self.solver!r}.")
        if not self.C > 0:
            raise InvalidParameterError(f"The 'C' parameter of LinearProbe must be > 0. Got {self.C!r}.")

    def _prepare(self, X: Tensor) -> Tensor:
        X = X.float()
        return (X - self.mean_) / self.scale_ if self.mean_ is not None else X

    def fit(self, X: Tensor | np.ndarray, y: Tensor | np.ndarray) -> LinearProbe:
        """Fit on features ``X`` ``(N, D)`` and integer labels ``y`` ``(N,)``; returns self."""
        self._check()
        X, y = _as_tensor(X).float(), _as_tensor(y).long()
        classes, y_idx = torch.unique(y, return_inverse=True)
        self.classes_ = classes.numpy()
        standardize = self.standardize if self.standardize is not None else self.solver == "lbfgs"
        if standardize:
            self.mean_ = X.mean(dim=0, keepdim=True)
            self.scale_ = X.std(dim=0, keepdim=True, unbiased=False).clamp_min(1e-6)
        else:
            self.mean_ = self.scale_ = None
        Xs = self._prepare(X)
        gen = torch.Generator().manual_seed(self.random_state)
        if self.solver == "lbfgs":
            W, b = self._fit_lbfgs(Xs, y_idx, len(classes))
        else:
            W, b = self._fit_adam(Xs, y_idx, len(classes), gen)
        self.coef_, self.intercept_ = W.detach(), b.detach()
        return self

    def _fit_lbfgs(self, X: Tensor, y: Tensor, k: int) -> tuple[Tensor, Tensor]:
        n, d = X.shape
        W = torch.zeros(k, d, requires_grad=True)
        b = torch.zeros(k, requires_grad=True)
        penalty = 1.0 / (2.0 * self.C * n)
        opt = torch.optim.LBFGS(
            [W, b], lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-7, tolerance_change=1e-10,
            history_size=20, line_search_fn="strong_wolfe",
        )

        def closure() -> Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(X @ W.T + b, y) + penalty * (W * W).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        return W, b

    def _fit_adam(self, X: Tensor, y: Tensor, k: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        n, d = X.shape
        bound = 1.0 / d**0.5  # nn.Linear's default initialisation, seeded
        W = ((torch.rand(k, d, generator=gen) * 2 - 1) * bound).requires_grad_()
        b = ((torch.rand(k, generator=gen) * 2 - 1) * bound).requires_grad_()
        opt = torch.optim.Adam([W, b], lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.epochs):
                order = torch.randperm(n, generator=gen)
                for start in range(0, n, self.batch_size):
                    idx = order[start : start + self.batch_size]
                    opt.zero_grad()
                    F.cross_entropy(X[idx] @ W.T + b, y[idx]).backward()
                    opt.step()
        return W, b

    def decision_function(self, X: Tensor | np.ndarray) -> Tensor:
        """Class scores ``(N, K)``."""
        if not hasattr(self, "coef_"):
            raise InvalidParameterError("This LinearProbe instance is not fitted yet. Call 'fit' before using it.")
        with torch.no_grad():
            return self._prepare(_as_tensor(X).float()) @ self.coef_.T + self.intercept_

    def predict(self, X: Tensor | np.ndarray) -> np.ndarray:
        """Predicted class labels ``(N,)``."""
        scores = self.decision_function(X)
        return self.classes_[scores.argmax(dim=1).numpy()]

    def score(self, X: Tensor | np.ndarray, y: Tensor | np.ndarray) -> float:
        """Accuracy on ``(X, y)``."""
        return float((self.predict(X) == _as_tensor(y).numpy()).mean())
