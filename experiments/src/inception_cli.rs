//! `experiments metrics fid --real R --fake F --inception PATH.pth`: FID from Inception-v3 pool3
//! features of two folders of PNG images, as pytorch-fid computes it (network and input handling
//! in `models::inception`, the f64 Frechet distance in the metrics crate).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use models::backends::Flex;
use models::inception::{InceptionFid, FEATURE_DIM};

/// Images per forward pass (pytorch-fid's default batch size is 50; 16 keeps the CPU memory of
/// the 299x299 activations around 1 GiB).
const BATCH: usize = 16;

/// The PNG files of `dir`, sorted by name (pytorch-fid takes `*.png` etc. of one folder).
pub fn png_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("{}: not a folder; with --inception, --real and --fake are folders of PNG images", dir.display());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    files.sort();
    if files.len() < 2 {
        bail!("{}: {} PNG files; FID needs at least 2 images per set (pytorch-fid uses 10,000 or more)", dir.display(), files.len());
    }
    Ok(files)
}

/// One image as pytorch-fid reads it: `Image.open(p).convert("RGB")` (grey repeated, alpha
/// dropped), then `ToTensor()` (values / 255, CHW). Returns (height, width, CHW values).
pub fn read_rgb(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let img = image::open(path).with_context(|| format!("{}: cannot read as an image", path.display()))?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut chw = vec![0f32; 3 * h * w];
    for (x, y, p) in img.enumerate_pixels() {
        for c in 0..3 {
            chw[c * h * w + y as usize * w + x as usize] = p[c] as f32 / 255.0;
        }
    }
    Ok((h, w, chw))
}

/// Pool3 features (rows of 2048, f64) of the PNG images of `dir`. Consecutive images of equal
/// size share a forward pass; images are resized to 299x299 inside the network.
pub fn inception_features(net: &InceptionFid<Flex>, dir: &Path) -> Result<Vec<f64>> {
    let files = png_files(dir)?;
    let device = Default::default();
    let mut out = Vec::with_capacity(files.len() * FEATURE_DIM);
    let mut batch: Vec<f32> = Vec::new();
    let (mut n, mut size) = (0usize, (0usize, 0usize));
    let mut flush = |batch: &mut Vec<f32>, n: &mut usize, size: (usize, usize)| -> Result<()> {
        if *n > 0 {
            let f = net.features(batch, *n, 3, size.0, size.1, BATCH, &device).with_context(|| dir.display().to_string())?;
            out.extend(f.iter().map(|&v| v as f64));
        }
        batch.clear();
        *n = 0;
        Ok(())
    };
    for (i, file) in files.iter().enumerate() {
        let (h, w, chw) = read_rgb(file)?;
        if n == BATCH || (n > 0 && (h, w) != size) {
            flush(&mut batch, &mut n, size)?;
        }
        size = (h, w);
        batch.extend_from_slice(&chw);
        n += 1;
        if (i + 1) % 500 == 0 {
            eprintln!("inception: {} of {} images of {}", i + 1, files.len(), dir.display());
        }
    }
    flush(&mut batch, &mut n, size)?;
    Ok(out)
}

/// FID of the PNG folders `real` and `fake` with pytorch-fid's Inception weights `weights`.
pub fn fid(weights: &Path, real: &Path, fake: &Path) -> Result<f64> {
    let net = InceptionFid::<Flex>::load(weights, &Default::default())?;
    let r = inception_features(&net, real)?;
    let f = inception_features(&net, fake)?;
    let rr = metrics::Rows::new(&r, FEATURE_DIM, "real").with_context(|| real.display().to_string())?;
    let fr = metrics::Rows::new(&f, FEATURE_DIM, "fake").with_context(|| fake.display().to_string())?;
    Ok(metrics::fid(rr, fr)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("inception-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn png_reading_matches_to_tensor_and_convert_rgb() {
        let d = tmp("png");
        // A 2x3 grey image: convert("RGB") repeats it; ToTensor divides by 255, CHW.
        let g = image::GrayImage::from_raw(3, 2, vec![0, 51, 102, 153, 204, 255]).unwrap();
        g.save(d.join("a.png")).unwrap();
        let (h, w, v) = read_rgb(&d.join("a.png")).unwrap();
        assert_eq!((h, w, v.len()), (2, 3, 18));
        let want: Vec<f32> = [0., 51., 102., 153., 204., 255.].iter().map(|x| x / 255.0).collect();
        for c in 0..3 {
            assert_eq!(&v[c * 6..(c + 1) * 6], &want[..]);
        }
        // An RGBA image: alpha dropped, channels in order.
        let rgba = image::RgbaImage::from_raw(1, 1, vec![10, 20, 30, 0]).unwrap();
        rgba.save(d.join("b.png")).unwrap();
        let (_, _, v) = read_rgb(&d.join("b.png")).unwrap();
        assert_eq!(v, vec![10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0]);
        assert_eq!(png_files(&d).unwrap(), vec![d.join("a.png"), d.join("b.png")]);
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn bad_inputs_are_one_line_errors() {
        let d = tmp("bad");
        let e = png_files(&d.join("absent")).unwrap_err().to_string();
        assert!(e.contains("not a folder"), "{e}");
        let e = png_files(&d).unwrap_err().to_string();
        assert!(e.contains("0 PNG files"), "{e}");
        std::fs::write(d.join("x.png"), b"not a png").unwrap();
        let e = format!("{:#}", read_rgb(&d.join("x.png")).unwrap_err());
        assert!(e.contains("x.png") && !e.contains('\n'), "{e}");
        let e = fid(&d.join("none.pth"), &d, &d).unwrap_err().to_string();
        assert!(e.contains("pt_inception-2015-12-05-6726825d.pth") && e.contains("~/.cache/torch/hub/checkpoints"), "{e}");
        std::fs::remove_dir_all(&d).ok();
    }
}
