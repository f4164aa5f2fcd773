//! Any photo into a clean avatar: a small, square, metadata-free PNG.
//!
//! XEP-0084 §4.2.1 requires every published avatar to have an `image/png`
//! version, and servers cap stanza sizes, so a photo from a phone has to be
//! converted, cropped and shrunk before it can be published. [`normalize`]
//! decodes PNG, JPEG, WebP or GIF (its first frame), applies the EXIF
//! orientation, crops the centre square, scales it down (never up) with a
//! Lanczos filter and encodes a compact PNG from the pixels alone, so no
//! EXIF (GPS positions included), XMP, ICC profile or text chunk of the
//! input survives. Transparency is kept.
//!
//! Input is untrusted: the declared dimensions are checked against
//! [`MAX_INPUT_PIXELS`] before any pixel buffer is allocated (a few hundred
//! bytes can declare 60000×60000), and decoding runs under the image
//! crate's allocation limit.

use std::fmt;
use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};

/// Default largest side of the output, in pixels (what Conversations, Dino
/// and Gajim publish: 192 to 200).
pub const DEFAULT_MAX_SIZE: i64 = 192;
/// Default largest output, in bytes: well inside the stanza limits of
/// common servers once base64-encoded.
pub const DEFAULT_MAX_BYTES: i64 = 96 * 1024;
/// Smallest side the size budget may shrink the output to.
pub const MIN_SIZE: u32 = 32;
/// Largest input accepted, in pixels (width × height as declared).
pub const MAX_INPUT_PIXELS: u64 = 64 * 1024 * 1024;
/// Most bytes the decoder may allocate at once.
const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;
/// Each step of the size budget loop keeps this fraction of the side.
const SHRINK_NUMERATOR: u32 = 4;
const SHRINK_DENOMINATOR: u32 = 5;

/// The formats avatars come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    Png,
    Jpeg,
    WebP,
    Gif,
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::WebP => "WebP",
            Self::Gif => "GIF",
        })
    }
}

/// Metadata found in the input and left out of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metadata {
    Exif,
    Xmp,
    IccProfile,
    TextChunks,
}

impl fmt::Display for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Exif => "EXIF",
            Self::Xmp => "XMP",
            Self::IccProfile => "ICC profile",
            Self::TextChunks => "text chunks",
        })
    }
}

/// A finished avatar and what was done to get it.
#[derive(Clone, Debug)]
pub struct Normalized {
    /// The PNG bytes.
    pub png: Vec<u8>,
    /// Its side in pixels (it is square).
    pub size: u32,
    pub input_format: InputFormat,
    pub input_width: u32,
    pub input_height: u32,
    pub input_bytes: usize,
    /// Whether an EXIF orientation other than "as stored" was applied.
    pub rotated: bool,
    /// Metadata of the input that the output does not carry.
    pub removed: Vec<Metadata>,
}

impl fmt::Display for Normalized {
    /// What was done, e.g. "JPEG 4000x3000, 3145728 bytes -> PNG 192x192,
    /// 40321 bytes; rotated upright; removed EXIF, ICC profile".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{}, {} bytes -> PNG {}x{}, {} bytes",
            self.input_format,
            self.input_width,
            self.input_height,
            self.input_bytes,
            self.size,
            self.size,
            self.png.len()
        )?;
        if self.rotated {
            f.write_str("; rotated upright")?;
        }
        if let Some((first, rest)) = self.removed.split_first() {
            write!(f, "; removed {first}")?;
            for m in rest {
                write!(f, ", {m}")?;
            }
        }
        Ok(())
    }
}

/// Why an image could not become an avatar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Not PNG, JPEG, WebP or GIF.
    UnknownFormat,
    /// The data is broken or ends early.
    Malformed { format: InputFormat, reason: String },
    /// Width or height is zero.
    Empty { format: InputFormat },
    /// The declared dimensions exceed [`MAX_INPUT_PIXELS`].
    TooManyPixels {
        format: InputFormat,
        width: u32,
        height: u32,
    },
    /// A caller's argument is out of range.
    BadArgument(String),
    /// Even at [`MIN_SIZE`] pixels the PNG is larger than asked.
    DoesNotFit { max_bytes: usize, smallest: usize },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFormat => {
                f.write_str("not an image in a supported format: expected PNG, JPEG, WebP or GIF")
            }
            Self::Malformed { format, reason } => {
                write!(f, "broken or truncated {format} image: {reason}")
            }
            Self::Empty { format } => write!(f, "the {format} image has no pixels"),
            Self::TooManyPixels {
                format,
                width,
                height,
            } => write!(
                f,
                "the {format} image declares {width}x{height} pixels, over the limit of \
                 {MAX_INPUT_PIXELS} pixels; refused before decoding"
            ),
            Self::BadArgument(what) => f.write_str(what),
            Self::DoesNotFit {
                max_bytes,
                smallest,
            } => write!(
                f,
                "the avatar does not fit in max_bytes={max_bytes}: even at \
                 {MIN_SIZE}x{MIN_SIZE} pixels its PNG has {smallest} bytes"
            ),
        }
    }
}

impl std::error::Error for ImageError {}

/// Turn `data` into a square PNG avatar of at most `max_size` pixels a side
/// and `max_bytes` bytes (see the module docs).
pub fn normalize(data: &[u8], max_size: i64, max_bytes: i64) -> Result<Normalized, ImageError> {
    let max_size = u32::try_from(max_size)
        .ok()
        .filter(|s| (MIN_SIZE..=u32::from(u16::MAX)).contains(s))
        .ok_or_else(|| {
            ImageError::BadArgument(format!(
                "max_size must be from {MIN_SIZE} to {} pixels, got {max_size}",
                u16::MAX
            ))
        })?;
    let max_bytes = usize::try_from(max_bytes)
        .ok()
        .filter(|b| *b > 0)
        .ok_or_else(|| {
            ImageError::BadArgument(format!(
                "max_bytes must be a positive number of bytes, got {max_bytes}"
            ))
        })?;
    let format = input_format(data).ok_or(ImageError::UnknownFormat)?;
    let (mut image, removed, orientation) = decode(data, format)?;
    let (input_width, input_height) = (image.width(), image.height());
    let rotated = orientation != image::metadata::Orientation::NoTransforms;
    image.apply_orientation(orientation);
    let square = centre_square(&image);
    let mut size = square.width().min(max_size);
    loop {
        let png = encode(&scaled(&square, size))?;
        if png.len() <= max_bytes {
            return Ok(Normalized {
                png,
                size,
                input_format: format,
                input_width,
                input_height,
                input_bytes: data.len(),
                rotated,
                removed,
            });
        }
        if size <= MIN_SIZE {
            return Err(ImageError::DoesNotFit {
                max_bytes,
                smallest: png.len(),
            });
        }
        size = (size * SHRINK_NUMERATOR / SHRINK_DENOMINATOR).max(MIN_SIZE);
    }
}

fn input_format(data: &[u8]) -> Option<InputFormat> {
    match image::guess_format(data).ok()? {
        ImageFormat::Png => Some(InputFormat::Png),
        ImageFormat::Jpeg => Some(InputFormat::Jpeg),
        ImageFormat::WebP => Some(InputFormat::WebP),
        ImageFormat::Gif => Some(InputFormat::Gif),
        _ => None,
    }
}

fn image_format(format: InputFormat) -> ImageFormat {
    match format {
        InputFormat::Png => ImageFormat::Png,
        InputFormat::Jpeg => ImageFormat::Jpeg,
        InputFormat::WebP => ImageFormat::WebP,
        InputFormat::Gif => ImageFormat::Gif,
    }
}

type Decoded = (DynamicImage, Vec<Metadata>, image::metadata::Orientation);

/// Read the header, refuse what is too large or empty, note the metadata,
/// then decode the pixels (the first frame of an animation).
fn decode(data: &[u8], format: InputFormat) -> Result<Decoded, ImageError> {
    let malformed = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => ImageError::Malformed {
            format,
            reason: "it needs more memory to decode than allowed".to_owned(),
        },
        other => ImageError::Malformed {
            format,
            reason: other.to_string(),
        },
    };
    // Headers only: the pixel limit below is ours, checked before the
    // decoder's allocation limit applies to the pixels.
    let mut reader = ImageReader::with_format(Cursor::new(data), image_format(format));
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(malformed)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::Empty { format });
    }
    if u64::from(width) * u64::from(height) > MAX_INPUT_PIXELS {
        return Err(ImageError::TooManyPixels {
            format,
            width,
            height,
        });
    }
    let mut removed = Vec::new();
    // Unreadable metadata is dropped all the same: it never reaches the output.
    if decoder.exif_metadata().ok().flatten().is_some() {
        removed.push(Metadata::Exif);
    }
    if decoder.xmp_metadata().ok().flatten().is_some() {
        removed.push(Metadata::Xmp);
    }
    if decoder.icc_profile().ok().flatten().is_some() {
        removed.push(Metadata::IccProfile);
    }
    if format == InputFormat::Png && has_png_text(data) {
        removed.push(Metadata::TextChunks);
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    decoder.set_limits(limits).map_err(malformed)?;
    let image = DynamicImage::from_decoder(decoder).map_err(malformed)?;
    Ok((image, removed, orientation))
}

/// Whether a PNG has tEXt, zTXt or iTXt chunks (PNG spec §11.3.3).
fn has_png_text(data: &[u8]) -> bool {
    let mut at = 8; // after the signature
    while let Some(header) = data.get(at..at + 8) {
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        match &header[4..8] {
            b"tEXt" | b"zTXt" | b"iTXt" => return true,
            b"IEND" => return false,
            _ => {}
        }
        at = match at.checked_add(12).and_then(|a| a.checked_add(length)) {
            Some(next) => next,
            None => return false,
        };
    }
    false
}

/// The centred square of the image, as large as its shorter side.
fn centre_square(image: &DynamicImage) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let side = w.min(h);
    image.crop_imm((w - side) / 2, (h - side) / 2, side, side)
}

fn scaled(square: &DynamicImage, size: u32) -> DynamicImage {
    if size >= square.width() {
        square.clone()
    } else {
        square.resize_exact(size, size, FilterType::Lanczos3)
    }
}

/// A compact PNG of the pixels only: 8 bits per channel, grey stays grey,
/// an alpha channel only where some pixel is not opaque.
fn encode(image: &DynamicImage) -> Result<Vec<u8>, ImageError> {
    let grey = matches!(
        image.color(),
        image::ColorType::L8
            | image::ColorType::La8
            | image::ColorType::L16
            | image::ColorType::La16
    );
    let pixels = match (grey, is_opaque(image)) {
        (true, true) => DynamicImage::ImageLuma8(image.to_luma8()),
        (true, false) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
        (false, true) => DynamicImage::ImageRgb8(image.to_rgb8()),
        (false, false) => DynamicImage::ImageRgba8(image.to_rgba8()),
    };
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Best, PngFilter::Adaptive)
        .write_image(
            pixels.as_bytes(),
            pixels.width(),
            pixels.height(),
            pixels.color().into(),
        )
        .map_err(|e| ImageError::Malformed {
            format: InputFormat::Png,
            reason: format!("encoding the avatar failed: {e}"),
        })?;
    Ok(png)
}

fn is_opaque(image: &DynamicImage) -> bool {
    !image.color().has_alpha() || image.to_rgba8().pixels().all(|p| p.0[3] == u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgba, RgbaImage};

    fn png_of(image: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn decoded(png: &[u8]) -> DynamicImage {
        image::load_from_memory_with_format(png, ImageFormat::Png).unwrap()
    }

    /// Left half red, right half blue, 300×200.
    fn halves() -> DynamicImage {
        DynamicImage::ImageRgba8(ImageBuffer::from_fn(300, 200, |x, _| {
            if x < 150 {
                Rgba([255, 0, 0, 255])
            } else {
                Rgba([0, 0, 255, 255])
            }
        }))
    }

    #[test]
    fn crops_the_centre_square_and_scales_down() {
        let out = normalize(&png_of(&halves()), 64, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(
            (out.size, out.input_width, out.input_height),
            (64, 300, 200)
        );
        let img = decoded(&out.png).to_rgb8();
        assert_eq!(img.dimensions(), (64, 64));
        assert_eq!(img.get_pixel(2, 32).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(61, 32).0, [0, 0, 255]);
        // opaque input: no alpha channel in the output
        assert_eq!(decoded(&out.png).color(), image::ColorType::Rgb8);
    }

    #[test]
    fn never_scales_up_and_keeps_transparency() {
        let mut img = RgbaImage::new(40, 40);
        img.put_pixel(0, 0, Rgba([1, 2, 3, 0]));
        let out = normalize(&png_of(&DynamicImage::ImageRgba8(img)), 192, 10_000).unwrap();
        assert_eq!(out.size, 40);
        assert_eq!(decoded(&out.png).to_rgba8().get_pixel(0, 0).0[3], 0);
    }

    #[test]
    fn the_size_budget_shrinks_until_it_fits_or_says_why() {
        // noise compresses badly
        let mut state = 1u32;
        let noise = DynamicImage::ImageRgb8(ImageBuffer::from_fn(256, 256, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            image::Rgb([(state >> 24) as u8, (state >> 16) as u8, (state >> 8) as u8])
        }));
        let data = png_of(&noise);
        let out = normalize(&data, 192, 20_000).unwrap();
        assert!(out.png.len() <= 20_000 && out.size < 192 && out.size >= MIN_SIZE);
        let err = normalize(&data, 192, 500).unwrap_err();
        assert!(
            matches!(err, ImageError::DoesNotFit { max_bytes: 500, smallest } if smallest > 500)
        );
        assert!(err.to_string().contains("32x32"), "{err}");
    }

    #[test]
    fn text_chunks_are_found_and_dropped() {
        let mut data = png_of(&halves());
        let iend = data.len() - 12;
        let text = b"Comment\0secret";
        let mut chunk = (text.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(text);
        let crc = crc32(&chunk[4..]);
        chunk.extend_from_slice(&crc.to_be_bytes());
        data.splice(iend..iend, chunk);
        assert!(has_png_text(&data));
        let out = normalize(&data, 64, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(out.removed, [Metadata::TextChunks]);
        assert!(out.to_string().ends_with("; removed text chunks"), "{out}");
        assert!(!has_png_text(&out.png));
        assert!(!out.png.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn hostile_input_gets_a_precise_error() {
        assert_eq!(
            normalize(b"hello", 192, 1000).unwrap_err(),
            ImageError::UnknownFormat
        );
        let data = png_of(&halves());
        assert!(matches!(
            normalize(&data[..data.len() / 2], 192, 100_000).unwrap_err(),
            ImageError::Malformed {
                format: InputFormat::Png,
                ..
            }
        ));
        // a header declaring 60000×60000: refused from the header alone
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bomb.extend_from_slice(&60000u32.to_be_bytes());
        bomb.extend_from_slice(&60000u32.to_be_bytes());
        bomb.extend_from_slice(&[8, 6, 0, 0, 0]);
        let crc = crc32(&bomb[12..]);
        bomb.extend_from_slice(&crc.to_be_bytes());
        // one IDAT with an empty zlib stream, then IEND
        for (kind, body) in [
            (&b"IDAT"[..], &b"\x78\x9c\x03\x00\x00\x00\x00\x01"[..]),
            (b"IEND", b""),
        ] {
            bomb.extend_from_slice(&(body.len() as u32).to_be_bytes());
            let start = bomb.len();
            bomb.extend_from_slice(kind);
            bomb.extend_from_slice(body);
            let crc = crc32(&bomb[start..]);
            bomb.extend_from_slice(&crc.to_be_bytes());
        }
        assert!(matches!(
            normalize(&bomb, 192, 100_000).unwrap_err(),
            ImageError::TooManyPixels {
                width: 60000,
                height: 60000,
                ..
            }
        ));
        assert!(matches!(
            normalize(&data, 31, 1000),
            Err(ImageError::BadArgument(_))
        ));
        assert!(matches!(
            normalize(&data, 64, 0),
            Err(ImageError::BadArgument(_))
        ));
    }

    /// CRC-32 of PNG chunks (PNG spec annex D), for hand-made headers.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
