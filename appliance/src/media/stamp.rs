//! What happens to each camera frame on its way to the encoders: black when the
//! gate is shut (no camera frame leaves the box unless the session is live
//! and the shutter is sensed open), and in simulation the capture time drawn into it so
//! latency can be measured from outside (docs/design.md, Interfaces).

use std::time::{SystemTime, UNIX_EPOCH};

use gst::prelude::*;
use gst_video::prelude::*;

/// Luma of white and black in limited-range video.
const WHITE: u8 = 235;
const BLACK: u8 = 16;
/// Chroma of grey.
const NEUTRAL: u8 = 128;
/// Each row of blocks is this tall.
const ROW: usize = 16;

/// Blackens or stamps one I420 frame in place.
pub fn process(pad: &gst::Pad, buffer: &mut gst::Buffer, open: bool, simulated: bool) {
    if open && !simulated {
        return;
    }
    let Some(info) = pad
        .current_caps()
        .and_then(|caps| gst_video::VideoInfo::from_caps(&caps).ok())
    else {
        return;
    };
    let buffer = buffer.make_mut();
    let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &info) else {
        return;
    };
    if open {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        draw_stamp(&mut frame, now_ms as u32);
    } else {
        for (plane, value) in [(0, BLACK), (1, NEUTRAL), (2, NEUTRAL)] {
            if let Ok(data) = frame.plane_data_mut(plane) {
                data.fill(value);
            }
        }
    }
}

fn draw_stamp(frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>, stamp: u32) {
    let width = frame.width() as usize;
    let height = frame.height() as usize;
    if height < 2 * ROW || width < 40 {
        return;
    }
    let block = width / 40;
    let strides = [
        frame.plane_stride()[0] as usize,
        frame.plane_stride()[1] as usize,
    ];
    if let Ok(luma) = frame.plane_data_mut(0) {
        draw_bits(luma, strides[0], block, stamp);
    }
    // Grey chroma under the blocks, so white is white whatever the pattern.
    for plane in [1, 2] {
        if let Ok(chroma) = frame.plane_data_mut(plane) {
            for row in 0..ROW {
                let start = row * strides[1];
                if let Some(line) = chroma.get_mut(start..start + (32 * block) / 2) {
                    line.fill(NEUTRAL);
                }
            }
        }
    }
}

/// Writes the 32 bits, most significant first, as blocks `block` pixels wide
/// and 16 rows tall, then the same bits inverted in the 16 rows below.
fn draw_bits(luma: &mut [u8], stride: usize, block: usize, stamp: u32) {
    for bit in 0..32 {
        let one = stamp & (1 << (31 - bit)) != 0;
        let x = bit * block;
        for row in 0..2 * ROW {
            let set = if row < ROW { one } else { !one };
            let start = row * stride + x;
            if let Some(cells) = luma.get_mut(start..start + block) {
                cells.fill(if set { WHITE } else { BLACK });
            }
        }
    }
}

/// Reads a stamp back from luma rows: the inverse of [`draw_bits`], used by
/// tests and tools that measure latency.
#[cfg(test)]
pub fn read_bits(luma: &[u8], stride: usize, block: usize) -> Option<u32> {
    let mut value = 0u32;
    for bit in 0..32 {
        let centre = |row: usize| luma[row * stride + bit * block + block / 2];
        let top = centre(ROW / 2) > NEUTRAL;
        let bottom = centre(ROW + ROW / 2) > NEUTRAL;
        if top == bottom {
            return None;
        }
        value = (value << 1) | u32::from(top);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back() {
        let (width, stride) = (1280, 1280);
        let mut luma = vec![100u8; stride * 64];
        for stamp in [0, 1, 0x8000_0001, 0xdead_beef, u32::MAX] {
            draw_bits(&mut luma, stride, width / 40, stamp);
            assert_eq!(read_bits(&luma, stride, width / 40), Some(stamp));
        }
    }
}
