//! Algorithm 1 (NSGAN as a particle model) and Corollary C.1 (its equivalence with the
//! non-saturating generator loss), for small differentiable generators and discriminators whose
//! gradients are written out by the chain rule.
//!
//! Algorithm 1, line 5: Z^_i = Z_i + s grad d(Z_i) / d(Z_i); line 6: descend
//! grad_theta (1/m) sum_i ||g_theta(z_i) - stopgrad(Z^_i)||^2.
//! Corollary C.1 (App. C.1) states this equals descending grad_theta of the NS loss
//! -(1/m) sum_i log d(g_theta(z_i)). The proof's first line is
//! grad (1/m) sum ||g - Z^||^2 = (2/m) sum J_i^T (g(z_i) - Z^_i) with g(z_i) - Z^_i = -s grad d/d,
//! which gives 2 s times the NS gradient; the printed second and third lines drop the 2 and
//! state the factor s. Both are provided: [`particle_grad_from_ns`] (2 s) and
//! [`particle_grad_from_ns_as_printed`] (s). Either way the direction is the same, so the two
//! updates coincide up to a rescaled learning rate (factor 2 s).

use crate::TheoryError;

/// A generator g_theta: R^k -> R^n, differentiable in its parameters theta.
pub trait Generator {
    /// Number of parameters theta.
    fn n_params(&self) -> usize;
    /// Output dimension n.
    fn dim(&self) -> usize;
    /// g_theta(z).
    fn eval(&self, theta: &[f64], z: &[f64]) -> Vec<f64>;
    /// The Jacobian d g_theta(z) / d theta, as `dim` rows of `n_params` entries.
    fn jacobian_theta(&self, theta: &[f64], z: &[f64]) -> Vec<Vec<f64>>;
}

/// The 1-D generator g(z) = theta0 + theta1 z + theta2 tanh(theta3 z) (4 parameters, latent
/// dimension 1): an affine map plus one smooth nonlinearity, enough to make the chain rule
/// of Corollary C.1 non-trivial.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TanhGenerator1d;

impl Generator for TanhGenerator1d {
    fn n_params(&self) -> usize {
        4
    }
    fn dim(&self) -> usize {
        1
    }
    fn eval(&self, t: &[f64], z: &[f64]) -> Vec<f64> {
        vec![t[0] + t[1] * z[0] + t[2] * (t[3] * z[0]).tanh()]
    }
    fn jacobian_theta(&self, t: &[f64], z: &[f64]) -> Vec<Vec<f64>> {
        let th = (t[3] * z[0]).tanh();
        vec![vec![1.0, z[0], th, t[2] * z[0] * (1.0 - th * th)]]
    }
}

/// The affine generator g(z) = A z + b on R^n (n^2 + n parameters: A row-major, then b).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineGenerator {
    pub dim: usize,
}

impl Generator for AffineGenerator {
    fn n_params(&self) -> usize {
        self.dim * self.dim + self.dim
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, t: &[f64], z: &[f64]) -> Vec<f64> {
        let n = self.dim;
        (0..n)
            .map(|k| (0..n).map(|j| t[k * n + j] * z[j]).sum::<f64>() + t[n * n + k])
            .collect()
    }
    fn jacobian_theta(&self, _t: &[f64], z: &[f64]) -> Vec<Vec<f64>> {
        let n = self.dim;
        (0..n)
            .map(|k| {
                let mut row = vec![0.0; n * n + n];
                row[k * n..(k + 1) * n].copy_from_slice(&z[..n]);
                row[n * n + k] = 1.0;
                row
            })
            .collect()
    }
}

/// The discriminator d(x) = sigmoid(l(x)) with the smooth logit l(x) = a . x + b + c ||x||^2.
#[derive(Clone, Debug, PartialEq)]
pub struct QuadraticLogitDiscriminator {
    pub a: Vec<f64>,
    pub b: f64,
    pub c: f64,
}

impl QuadraticLogitDiscriminator {
    /// l(x) = a . x + b + c ||x||^2.
    pub fn logit(&self, x: &[f64]) -> f64 {
        self.a.iter().zip(x).map(|(a, x)| a * x).sum::<f64>()
            + self.b
            + self.c * x.iter().map(|v| v * v).sum::<f64>()
    }
    /// d(x) = sigmoid(l(x)).
    pub fn d(&self, x: &[f64]) -> f64 {
        1.0 / (1.0 + (-self.logit(x)).exp())
    }
    /// log d(x) = -softplus(-l(x)), stable for any logit.
    pub fn log_d(&self, x: &[f64]) -> f64 {
        let t = -self.logit(x);
        -(t.max(0.0) + (-t.abs()).exp().ln_1p())
    }
    /// grad d(x) / d(x) = grad log d(x) = (1 - d(x)) grad l(x) = sigmoid(-l) (a + 2 c x): the
    /// particle field of Algorithm 1, line 5.
    pub fn grad_log_d(&self, x: &[f64]) -> Vec<f64> {
        let w = 1.0 / (1.0 + self.logit(x).exp());
        self.a
            .iter()
            .zip(x)
            .map(|(a, x)| w * (a + 2.0 * self.c * x))
            .collect()
    }
}

/// Algorithm 1, line 5: Z^_i = Z_i + s grad d(Z_i) / d(Z_i) for every particle, with the field
/// grad d / d = grad log d supplied by `grad_log_d` (a trained discriminator, or the optimal one
/// of Theorem C.1). Requires s > 0 (Algorithm 1's step size) and a field of the points' dimension.
pub fn particle_step(
    points: &[Vec<f64>],
    s: f64,
    grad_log_d: impl Fn(&[f64]) -> Vec<f64>,
) -> Result<Vec<Vec<f64>>, TheoryError> {
    if !(s.is_finite() && s > 0.0) {
        return Err(TheoryError::invalid(
            "s",
            format!("Algorithm 1 needs a finite step s > 0, got {s}"),
        ));
    }
    points
        .iter()
        .map(|z| {
            if z.iter().any(|v| !v.is_finite()) {
                return Err(TheoryError::invalid(
                    "points",
                    "every coordinate must be finite",
                ));
            }
            let g = grad_log_d(z);
            if g.len() != z.len() {
                return Err(TheoryError::invalid(
                    "grad_log_d",
                    format!(
                        "field of dimension {} at a point of dimension {}",
                        g.len(),
                        z.len()
                    ),
                ));
            }
            Ok(z.iter().zip(&g).map(|(z, g)| z + s * g).collect())
        })
        .collect()
}

fn check_batch<G: Generator>(gen: &G, theta: &[f64], zs: &[Vec<f64>]) -> Result<(), TheoryError> {
    if theta.len() != gen.n_params() || theta.iter().any(|t| !t.is_finite()) {
        return Err(TheoryError::invalid(
            "theta",
            format!(
                "need {} finite parameters, got {}",
                gen.n_params(),
                theta.len()
            ),
        ));
    }
    if zs.is_empty() {
        return Err(TheoryError::invalid(
            "zs",
            "the batch must hold m > 0 latent points",
        ));
    }
    if zs.iter().any(|z| z.iter().any(|v| !v.is_finite())) {
        return Err(TheoryError::invalid(
            "zs",
            "every latent coordinate must be finite",
        ));
    }
    Ok(())
}

/// The particle loss of Algorithm 1, line 6, with the targets Z^_i held fixed (stop gradient):
/// (1/m) sum_i ||g_theta(z_i) - targets_i||^2.
pub fn particle_loss<G: Generator>(
    gen: &G,
    theta: &[f64],
    zs: &[Vec<f64>],
    targets: &[Vec<f64>],
) -> Result<f64, TheoryError> {
    check_batch(gen, theta, zs)?;
    if targets.len() != zs.len() {
        return Err(TheoryError::invalid(
            "targets",
            "one target per latent point",
        ));
    }
    let m = zs.len() as f64;
    Ok(zs
        .iter()
        .zip(targets)
        .map(|(z, t)| {
            gen.eval(theta, z)
                .iter()
                .zip(t)
                .map(|(g, t)| (g - t).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / m)
}

/// Gradient in theta of Algorithm 1's particle loss (line 6) at theta, with Z_i = g_theta(z_i),
/// Z^_i from [`particle_step`] and the stop gradient on Z^_i, by the chain rule:
/// (2/m) sum_i J_i^T (g_theta(z_i) - Z^_i) (first line of the proof of Corollary C.1).
pub fn particle_loss_grad<G: Generator>(
    gen: &G,
    theta: &[f64],
    zs: &[Vec<f64>],
    s: f64,
    disc: &QuadraticLogitDiscriminator,
) -> Result<Vec<f64>, TheoryError> {
    check_batch(gen, theta, zs)?;
    let points: Vec<Vec<f64>> = zs.iter().map(|z| gen.eval(theta, z)).collect();
    let targets = particle_step(&points, s, |x| disc.grad_log_d(x))?;
    let m = zs.len() as f64;
    let mut grad = vec![0.0; gen.n_params()];
    for ((z, x), t) in zs.iter().zip(&points).zip(&targets) {
        let jac = gen.jacobian_theta(theta, z);
        for (row, (xk, tk)) in jac.iter().zip(x.iter().zip(t)) {
            for (g, j) in grad.iter_mut().zip(row) {
                *g += 2.0 * j * (xk - tk) / m;
            }
        }
    }
    Ok(grad)
}

/// The NS generator loss -(1/m) sum_i log d(g_theta(z_i)) (Corollary C.1, right-hand side).
pub fn ns_loss<G: Generator>(
    gen: &G,
    theta: &[f64],
    zs: &[Vec<f64>],
    disc: &QuadraticLogitDiscriminator,
) -> Result<f64, TheoryError> {
    check_batch(gen, theta, zs)?;
    Ok(-zs
        .iter()
        .map(|z| disc.log_d(&gen.eval(theta, z)))
        .sum::<f64>()
        / zs.len() as f64)
}

/// Gradient in theta of the NS loss by the chain rule: -(1/m) sum_i J_i^T grad log d(g_theta(z_i))
/// (Corollary C.1).
pub fn ns_loss_grad<G: Generator>(
    gen: &G,
    theta: &[f64],
    zs: &[Vec<f64>],
    disc: &QuadraticLogitDiscriminator,
) -> Result<Vec<f64>, TheoryError> {
    check_batch(gen, theta, zs)?;
    let m = zs.len() as f64;
    let mut grad = vec![0.0; gen.n_params()];
    for z in zs {
        let f = disc.grad_log_d(&gen.eval(theta, z));
        for (row, fk) in gen.jacobian_theta(theta, z).iter().zip(&f) {
            for (g, j) in grad.iter_mut().zip(row) {
                *g -= j * fk / m;
            }
        }
    }
    Ok(grad)
}

/// The particle-loss gradient predicted from the NS gradient by the correct chain rule:
/// 2 s * grad NS (the proof of Corollary C.1 carried through from its first line).
pub fn particle_grad_from_ns(ns_grad: &[f64], s: f64) -> Vec<f64> {
    ns_grad.iter().map(|g| 2.0 * s * g).collect()
}

/// The same prediction as printed in the proof of Corollary C.1 (second and third lines):
/// s * grad NS, which drops the factor 2 of its own first line.
pub fn particle_grad_from_ns_as_printed(ns_grad: &[f64], s: f64) -> Vec<f64> {
    ns_grad.iter().map(|g| s * g).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn central_diff(f: impl Fn(&[f64]) -> f64, theta: &[f64], h: f64) -> Vec<f64> {
        (0..theta.len())
            .map(|k| {
                let mut a = theta.to_vec();
                a[k] += h;
                let mut b = theta.to_vec();
                b[k] -= h;
                (f(&a) - f(&b)) / (2.0 * h)
            })
            .collect()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        let scale = 1.0 + b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * scale)
    }

    #[test]
    fn particle_step_moves_along_the_field() {
        let d = QuadraticLogitDiscriminator {
            a: vec![1.0, -2.0],
            b: 0.3,
            c: -0.5,
        };
        let pts = vec![vec![0.0, 0.0], vec![1.0, -1.0]];
        let out = particle_step(&pts, 0.1, |x| d.grad_log_d(x)).unwrap();
        for (p, o) in pts.iter().zip(&out) {
            let g = d.grad_log_d(p);
            for k in 0..2 {
                assert!((o[k] - p[k] - 0.1 * g[k]).abs() < 1e-15);
            }
        }
        // The field is grad log d: compare with finite differences of log d.
        let x = [0.4, -0.7];
        let g = d.grad_log_d(&x);
        let fd = central_diff(|y| d.log_d(y), &x, 1e-6);
        assert!(close(&g, &fd, 1e-8));
    }

    #[test]
    fn invalid_inputs_are_named() {
        let d = QuadraticLogitDiscriminator {
            a: vec![1.0],
            b: 0.0,
            c: 0.0,
        };
        let e = particle_step(&[vec![0.0]], 0.0, |x| d.grad_log_d(x)).unwrap_err();
        assert!(matches!(e, TheoryError::InvalidParameter { name: "s", .. }));
        let e = particle_step(&[vec![0.0, 1.0]], 0.1, |_| vec![1.0]).unwrap_err();
        assert!(matches!(
            e,
            TheoryError::InvalidParameter {
                name: "grad_log_d",
                ..
            }
        ));
        let e = ns_loss_grad(&TanhGenerator1d, &[0.0; 3], &[vec![0.0]], &d).unwrap_err();
        assert!(matches!(
            e,
            TheoryError::InvalidParameter { name: "theta", .. }
        ));
        let e = particle_loss_grad(&TanhGenerator1d, &[0.0; 4], &[], 0.1, &d).unwrap_err();
        assert!(matches!(
            e,
            TheoryError::InvalidParameter { name: "zs", .. }
        ));
    }

    #[test]
    fn printed_factor_of_corollary_c1_is_off_by_two() {
        // A concrete counterexample to the printed factor s: one particle, g(z) = theta0 + theta1 z,
        // d = sigmoid(x). At theta = (0, 0), z = 1: grad NS = -(1 - 1/2) (1, 1) = (-0.5, -0.5);
        // the particle loss gradient is 2 (g - Z^) J = 2 (-s/2) (1, 1) = (-s, -s), i.e. 2 s grad NS.
        let d = QuadraticLogitDiscriminator {
            a: vec![1.0],
            b: 0.0,
            c: 0.0,
        };
        let theta = [0.0, 0.0, 0.0, 0.0];
        let zs = vec![vec![1.0]];
        let s = 0.1;
        let pg = particle_loss_grad(&TanhGenerator1d, &theta, &zs, s, &d).unwrap();
        let ng = ns_loss_grad(&TanhGenerator1d, &theta, &zs, &d).unwrap();
        assert!((ng[0] + 0.5).abs() < 1e-15 && (pg[0] + 0.1).abs() < 1e-15);
        assert!(close(&pg, &particle_grad_from_ns(&ng, s), 1e-14));
        let printed = particle_grad_from_ns_as_printed(&ng, s);
        assert!(
            (pg[0] / printed[0] - 2.0).abs() < 1e-12,
            "ratio {}",
            pg[0] / printed[0]
        );
    }

    fn disc_strategy(n: usize) -> impl Strategy<Value = QuadraticLogitDiscriminator> {
        (
            prop::collection::vec(-2.0f64..2.0, n),
            -1.0f64..1.0,
            -0.5f64..0.5,
        )
            .prop_map(|(a, b, c)| QuadraticLogitDiscriminator { a, b, c })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn corollary_c1_tanh_generator(
            theta in prop::collection::vec(-1.5f64..1.5, 4),
            s in 1e-3f64..1.0,
            zs in prop::collection::vec(prop::collection::vec(-2.5f64..2.5, 1), 1..16),
            d in disc_strategy(1),
        ) {
            let gen = TanhGenerator1d;
            let ng = ns_loss_grad(&gen, &theta, &zs, &d).unwrap();
            // (b) against central finite differences of the NS loss itself.
            let fd = central_diff(|t| ns_loss(&gen, t, &zs, &d).unwrap(), &theta, 1e-5);
            prop_assert!(close(&ng, &fd, 1e-7), "{ng:?} vs {fd:?}");
            // (a) against finite differences of the particle loss with frozen targets.
            let pts: Vec<Vec<f64>> = zs.iter().map(|z| gen.eval(&theta, z)).collect();
            let targets = particle_step(&pts, s, |x| d.grad_log_d(x)).unwrap();
            let pg = particle_loss_grad(&gen, &theta, &zs, s, &d).unwrap();
            let pfd = central_diff(|t| particle_loss(&gen, t, &zs, &targets).unwrap(), &theta, 1e-5);
            prop_assert!(close(&pg, &pfd, 1e-7), "{pg:?} vs {pfd:?}");
            // Corollary C.1 with the factor from the proof's first line: (a) = 2 s (b).
            prop_assert!(close(&pg, &particle_grad_from_ns(&ng, s), 1e-12));
        }

        #[test]
        fn corollary_c1_affine_2d(
            theta in prop::collection::vec(-1.5f64..1.5, 6),
            s in 1e-3f64..1.0,
            zs in prop::collection::vec(prop::collection::vec(-2.5f64..2.5, 2), 1..16),
            d in disc_strategy(2),
        ) {
            let gen = AffineGenerator { dim: 2 };
            let ng = ns_loss_grad(&gen, &theta, &zs, &d).unwrap();
            let fd = central_diff(|t| ns_loss(&gen, t, &zs, &d).unwrap(), &theta, 1e-5);
            prop_assert!(close(&ng, &fd, 1e-7), "{ng:?} vs {fd:?}");
            let pts: Vec<Vec<f64>> = zs.iter().map(|z| gen.eval(&theta, z)).collect();
            let targets = particle_step(&pts, s, |x| d.grad_log_d(x)).unwrap();
            let pg = particle_loss_grad(&gen, &theta, &zs, s, &d).unwrap();
            let pfd = central_diff(|t| particle_loss(&gen, t, &zs, &targets).unwrap(), &theta, 1e-5);
            prop_assert!(close(&pg, &pfd, 1e-7), "{pg:?} vs {pfd:?}");
            let want = particle_grad_from_ns(&ng, s);
            prop_assert!(close(&pg, &want, 1e-12));
            // The printed factor s is wrong by exactly 2 whenever the gradient is non-zero.
            let printed = particle_grad_from_ns_as_printed(&ng, s);
            let big = printed.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, p) in pg.iter().zip(&printed) {
                if p.abs() > 1e-6 * big && big > 1e-12 {
                    prop_assert!((a / p - 2.0).abs() < 1e-8, "ratio {}", a / p);
                }
            }
        }
    }
}
