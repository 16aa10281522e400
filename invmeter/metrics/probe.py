"""Linear probes on frozen representations (scikit-learn estimator conventions).

* ``solver="auto"`` (default): ``lbfgs`` below 10,000 training images, where it is the most accurate of the
  three, and ``ridge`` from there on, where it is as accurate and an order of magnitude faster
  (benchmarks/bench_probe.py). ``solver_`` records the choice.
* ``solver="ridge"``: a least-squares classifier on standardised features (one-hot targets)
  whose ridge strength is chosen by generalised cross-validation, in closed form from one eigendecomposition
  of the d x d (or n x n) Gram matrix. Same solution as scikit-learn's ``RidgeClassifier(alpha=alpha_)``.
* ``solver="lbfgs"``: multinomial logistic regression with an L2 penalty on standardised features. Same
  objective as scikit-learn's ``LogisticRegression(C=C)``: ``C · sum_i CE_i + ||W||² / 2`` (bias not
  penalised), solved with SciPy's L-BFGS-B on analytic gradients.
* ``solver="adam"`` (the paper's protocol): a freshly initialised linear layer trained with ``torch.optim.Adam``
  (lr 1e-3, 25 epochs, batch 512, no weight decay) on the raw features.

``LinearProbe`` is a scikit-learn estimator: ``get_params``/``set_params``, ``sklearn.base.clone`` and
``NotFittedError`` work as for any scikit-learn classifier.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from torch import Tensor

from invmeter.errors import InvalidParameterError, InvmeterError

__all__ = ["LinearProbe", "PROBE_SOLVERS", "ProbeNotFittedError", "resolve_solver"]


class ProbeNotFittedError(InvmeterError, NotFittedError):
    """A probe used before ``fit`` (scikit-learn's ``NotFittedError``, and a one-line invmeter error)."""

PROBE_SOLVERS = ("auto", "ridge", "lbfgs", "adam")
RIDGE_GRID = np.logspace(-3, 4, 29)  # candidate ridge strengths, relative to the mean Gram eigenvalue
AUTO_RIDGE_FROM = 10_000  # "auto" fits logistic regression below this many training images, ridge from here on


def _cross_entropy_grad(X: Tensor, Y: Tensor, W: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean softmax cross-entropy of ``X @ W.T + b`` against one-hot ``Y``, and its gradients (no autograd)."""
    logp = torch.log_softmax(X @ W.T + b, dim=1)
    residual = (logp.exp() - Y) / len(X)
    return -(Y * logp).sum() / len(X), residual.T @ X, residual.sum(dim=0)


@contextmanager
def _threads_for(work: float) -> Iterator[None]:
    """Run small problems (< 2e7 multiply-adds per step) on one thread: thread start-up costs more than it saves."""
    before = torch.get_num_threads()
    if work < 2e7:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resolve_solver(solver: str, n_train: int) -> str:
    """The solver ``"auto"`` stands for with ``n_train`` training images (others are returned unchanged)."""
    if solver != "auto":
        return solver
    return "ridge" if n_train >= AUTO_RIDGE_FROM else "lbfgs"


def _features(X: Tensor | np.ndarray, n_features: int | None = None) -> Tensor:
    """Features as a float32 tensor ``(N, D)``: tensors are checked (2-D, finite) and kept; anything else goes through
    scikit-learn's ``check_array`` (which refuses sparse, complex, object, NaN/Inf and empty input)."""
    if isinstance(X, Tensor):
        if X.dim() != 2 or len(X) == 0:
            raise InvalidParameterError(f"A probe needs features of shape (N, D) with N >= 1; got {tuple(X.shape)}.")
        if not bool(torch.isfinite(X).all()):
            raise InvalidParameterError("A probe's features contain NaN or Inf.")
        out = X.float()
    else:
        from sklearn.utils.validation import check_array

        try:
            checked = check_array(X, dtype=[np.float32, np.float64])
        except ValueError as exc:  # NaN, Inf, empty, wrong rank: scikit-learn's message, as a one-line invmeter error
            why = " ".join(line.strip() for line in str(exc).splitlines() if not line.startswith("array="))
            raise InvalidParameterError(f"A probe's features are unusable: {why}") from None
        out = torch.from_numpy(np.ascontiguousarray(checked, dtype=np.float32))
    if n_features is not None and out.shape[1] != n_features:
        raise InvalidParameterError(f"X has {out.shape[1]} features, but LinearProbe is expecting {n_features} features "
                                    "as input.")
    return out


class LinearProbe(ClassifierMixin, BaseEstimator):
    """A linear classifier fit on fixed features.

    Args:
        solver: ``"auto"`` (``lbfgs`` for small, ``ridge`` for large training sets), ``"ridge"`` (closed form,
            ridge strength by generalised cross-validation), ``"lbfgs"`` (regularised logistic regression) or
            ``"adam"`` (the paper's last-layer fine-tuning).
        C: Inverse L2 strength for ``lbfgs`` (scikit-learn's meaning).
        max_iter: L-BFGS iterations.
        epochs: Adam epochs over the training features.
        lr: Adam learning rate.
        batch_size: Adam mini-batch size.
        standardize: Scale features to zero mean, unit variance using training statistics (default: on for
            ``ridge`` and ``lbfgs``, off for ``adam`` as in the paper).
        random_state: Seed for initialisation and mini-batch order.
    """

    def __init__(
        self,
        *,
        solver: str = "auto",
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
        """Fit on features ``X`` ``(N, D)`` and class labels ``y`` ``(N,)`` (any labels scikit-learn accepts);
        returns self."""
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        self._check()
        X = _features(X)
        y = column_or_1d(y.numpy() if isinstance(y, Tensor) else np.asarray(y), warn=True)
        if len(y) != len(X):
            raise InvalidParameterError(f"LinearProbe.fit got {len(X)} feature rows but {len(y)} labels.")
        check_classification_targets(y)
        self.classes_, inverse = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise InvalidParameterError(f"LinearProbe needs at least 2 classes in y; got 1 class "
                                        f"({self.classes_.tolist()!r}). Give labels of 2 or more classes.")
        classes, y_idx = self.classes_, torch.from_numpy(inverse.astype(np.int64))
        self.n_features_in_ = X.shape[1]
        self.solver_ = self.solver if self.solver != "auto" else resolve_solver(self.solver, len(X))
        standardize = self.standardize if self.standardize is not None else self.solver_ != "adam"
        if standardize:
            self.mean_ = X.mean(dim=0, keepdim=True)
            self.scale_ = X.std(dim=0, keepdim=True, unbiased=False).clamp_min(1e-6)
        else:
            self.mean_ = self.scale_ = None
        Xs = self._prepare(X)
        gen = torch.Generator().manual_seed(self.random_state)
        batch = min(self.batch_size, len(Xs)) if self.solver_ == "adam" else len(Xs)
        with _threads_for(batch * Xs.shape[1] * len(classes)):
            if self.solver_ == "ridge":
                W, b = self._fit_ridge(Xs, y_idx, len(classes))
            elif self.solver_ == "lbfgs":
                W, b = self._fit_lbfgs(Xs, y_idx, len(classes))
            else:
                W, b = self._fit_adam(Xs, y_idx, len(classes), gen)
        self.coef_, self.intercept_ = W.detach(), b.detach()
        return self

    def _fit_ridge(self, X: Tensor, y: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Minimise ||Y_c - X_c W||² + alpha ||W||² over a grid of alpha, keeping the GCV-best one.

        With X_c = U S^½ Vᵀ, the fit along the j-th direction shrinks by s_j / (s_j + alpha), so the residual,
        the effective degrees of freedom and GCV = RSS / (n - df)² are closed-form in the eigenvalues s_j.
        """
        n, d = X.shape
        Xc = X - X.mean(dim=0, keepdim=True)  # the large products run in float32, the small solve in float64
        Y = F.one_hot(y, k).to(X.dtype)
        y_mean = Y.mean(dim=0).double()
        Yc = Y - Y.mean(dim=0)
        if n >= d:
            s, V = torch.linalg.eigh((Xc.T @ Xc).double())
            B = V.T @ (Xc.T @ Yc).double()  # d x k: projections onto right singular directions, scaled by s^½
            energy = (B * B).sum(dim=1) / s.clamp_min(1e-12)
        else:
            Xc = Xc.double()
            s, U = torch.linalg.eigh(Xc @ Xc.T)
            C = U.T @ Yc.double()  # n x k: projections onto left singular directions
            energy = (C * C).sum(dim=1)
        s = s.clamp_min(0.0)
        total = float((Yc.double() ** 2).sum())
        best = (np.inf, 1.0)
        for alpha in RIDGE_GRID * float(s.mean()):
            shrink = alpha / (s + alpha)
            rss = total - float((energy * (1.0 - shrink**2)).sum())
            df = float((s / (s + alpha)).sum())
            gcv = rss / max(n - df, 1e-9) ** 2
            best = min(best, (gcv, alpha))
        alpha = best[1]
        self.alpha_ = alpha
        W = V @ (B / (s + alpha)[:, None]) if n >= d else Xc.T @ (U @ (C / (s + alpha)[:, None]))
        b = y_mean - X.mean(dim=0).double() @ W
        self.n_iter_ = 1
        return W.T.float(), b.float()

    def _fit_lbfgs(self, X: Tensor, y: Tensor, k: int) -> tuple[Tensor, Tensor]:
        n, d = X.shape
        Y = F.one_hot(y, k).to(X.dtype)
        penalty = 1.0 / (2.0 * self.C * n)

        def loss_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
            W = torch.from_numpy(w[: k * d].reshape(k, d)).to(X.dtype)
            b = torch.from_numpy(w[k * d :]).to(X.dtype)
            loss, gW, gb = _cross_entropy_grad(X, Y, W, b)
            loss = float(loss) + penalty * float((W.double() ** 2).sum())
            grad = np.concatenate([(gW + 2.0 * penalty * W).double().numpy().ravel(), gb.double().numpy()])
            return loss, grad

        result = minimize(
            loss_and_grad, np.zeros(k * d + k), jac=True, method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": 1e-6, "ftol": 1e-10, "maxcor": 20},
        )
        self.n_iter_ = int(result.nit)
        w = torch.from_numpy(result.x)
        return w[: k * d].reshape(k, d).float(), w[k * d :].float()

    def _fit_adam(self, X: Tensor, y: Tensor, k: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        n, d = X.shape
        Y = F.one_hot(y, k).to(X.dtype)
        bound = 1.0 / d**0.5  # nn.Linear's default initialisation, seeded
        W = ((torch.rand(k, d, generator=gen) * 2 - 1) * bound).requires_grad_()
        b = ((torch.rand(k, generator=gen) * 2 - 1) * bound).requires_grad_()
        optimizer = torch.optim.Adam([W, b], lr=self.lr)
        step = 0
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                _, gW, gb = _cross_entropy_grad(X[idx], Y[idx], W.detach(), b.detach())
                W.grad, b.grad = gW, gb  # the analytic gradient of the mean cross-entropy (no autograd graph)
                optimizer.step()
                step += 1
        self.n_iter_ = step
        return W.detach(), b.detach()

    def _scores(self, X: Tensor | np.ndarray) -> Tensor:
        if not hasattr(self, "coef_"):
            raise ProbeNotFittedError("This LinearProbe instance is not fitted yet. Call 'fit' before using it.")
        return self._prepare(_features(X, self.n_features_in_)) @ self.coef_.T + self.intercept_

    def decision_function(self, X: Tensor | np.ndarray) -> np.ndarray:
        """Class scores ``(N, K)``; for two classes, scikit-learn's ``(N,)`` score of the second class."""
        scores = self._scores(X).numpy()
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X: Tensor | np.ndarray) -> np.ndarray:
        """Predicted class labels ``(N,)``."""
        best = self._scores(X).argmax(dim=1).numpy()
        return self.classes_[best]
