//! Appendix E's preprocessing: "resizing the images to 64x64 pixels, converting them to PyTorch
//! tensors, and normalizing the tensor values to the range of [-1, 1]", i.e. torchvision's
//! `Resize(64)`, `ToTensor()` (x / 255) and `Normalize(0.5, 0.5)` ((x - 0.5) / 0.5 = 2x - 1).
//!
//! **The resize filter.** torchvision's `Resize` defaults to bilinear interpolation; on a PIL
//! image (what the MNIST, Fashion-MNIST and CIFAR-10 data sets of torchvision yield) it calls
//! Pillow's `Image.resize(..., BILINEAR)`, which is a separable triangle filter sampled at pixel
//! centres (`(x + 0.5) * scale - 0.5`), with weights renormalised at the borders and the support
//! widened by the scale factor when shrinking (that widening is what `antialias=True`, the default
//! since torchvision 0.17, also does for tensors). We use the `image` crate's
//! `imageops::resize` with `FilterType::Triangle`, which implements the same filter with the same
//! sample positions, border renormalisation and support widening. The remaining differences are
//! rounding: Pillow resamples 8-bit images in fixed point and rounds to 8 bits after each of its
//! two passes (horizontal first), the `image` crate runs both passes in f32 (vertical first) and
//! rounds once. Upscaling 28x28 or 32x32 to 64x64 (every use here), antialiasing plays no role and
//! the two agree to within one grey level; `scripts/metrics_reference.py --resize-check` measures
//! the difference on the real MNIST subset against Pillow itself (see README).

use image::{imageops, GrayImage};

use crate::Images;

/// Resizes one image of `channels` planes of `h` x `w` bytes to `size` x `size`, plane by plane
/// (the triangle filter acts on each channel independently, so this equals resizing an RGB image).
pub fn resize_image(pixels: &[u8], channels: usize, h: usize, w: usize, size: usize) -> Vec<u8> {
    let plane = h * w;
    let mut out = Vec::with_capacity(channels * size * size);
    for c in 0..channels {
        let src = GrayImage::from_raw(w as u32, h as u32, pixels[c * plane..(c + 1) * plane].to_vec())
            .expect("plane length matches its dimensions");
        let dst = imageops::resize(&src, size as u32, size as u32, imageops::FilterType::Triangle);
        out.extend_from_slice(dst.as_raw());
    }
    out
}

/// Resizes every image to `size` x `size`.
pub fn resize(images: &Images, size: usize) -> Images {
    let mut pixels = Vec::with_capacity(images.len() * images.channels * size * size);
    for i in 0..images.len() {
        pixels.extend(resize_image(images.image(i), images.channels, images.height, images.width, size));
    }
    Images { channels: images.channels, height: size, width: size, pixels, labels: images.labels.clone() }
}

/// `ToTensor` then `Normalize(0.5, 0.5)`: a byte 0..=255 to [-1, 1].
pub fn to_signed_unit(v: u8) -> f64 {
    v as f64 / 255.0 * 2.0 - 1.0
}

/// Appendix E's preprocessing of image `i`: resized to `size` x `size`, scaled to [-1, 1], as a
/// flat CHW vector of `channels * size * size` values.
pub fn preprocess(images: &Images, i: usize, size: usize) -> Vec<f64> {
    let img = images.image(i);
    let resized;
    let px: &[u8] = if images.height == size && images.width == size {
        img
    } else {
        resized = resize_image(img, images.channels, images.height, images.width, size);
        &resized
    };
    px.iter().map(|&v| to_signed_unit(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_images_stay_constant_and_scaling_hits_the_ends() {
        let im = Images { channels: 3, height: 28, width: 28, pixels: vec![200; 3 * 28 * 28], labels: vec![0] };
        let r = resize(&im, 64);
        assert_eq!((r.height, r.width, r.pixels.len()), (64, 64, 3 * 64 * 64));
        assert!(r.pixels.iter().all(|&v| v == 200));
        assert_eq!(to_signed_unit(0), -1.0);
        assert_eq!(to_signed_unit(255), 1.0);
        assert!((to_signed_unit(128) - 0.003_921_568_627_451).abs() < 1e-12);
    }

    #[test]
    fn upscaling_is_bilinear_at_pixel_centres() {
        // A 2-pixel row [0, 255] upscaled to 4: output centres sit at input positions
        // -0.25, 0.25, 0.75, 1.25 (in pixel-centre coordinates), so the middle two are
        // 0.25 and 0.75 of the way (64, 191) and the outer ones clamp to the end values.
        let src = vec![0u8, 255];
        let out = resize_image(&src, 1, 1, 2, 4);
        // Height 1 -> 4 repeats the row; take the first output row.
        assert_eq!(&out[..4], &[0, 64, 191, 255]);
    }

    #[test]
    fn channels_are_resized_independently() {
        let mut px = vec![0u8; 3 * 4 * 4];
        px[16..32].fill(255); // green plane white
        let out = resize_image(&px, 3, 4, 4, 8);
        assert!(out[..64].iter().all(|&v| v == 0));
        assert!(out[64..128].iter().all(|&v| v == 255));
        assert!(out[128..].iter().all(|&v| v == 0));
    }
}
