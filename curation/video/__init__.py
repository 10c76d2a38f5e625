"""Video probing and streaming decode: the only code that opens a video file."""
from curation.video.decode import DecodedFrame, DecodeStats, KeyframeImage, iter_frames, scaled_size
from curation.video.errors import VideoError
from curation.video.probe import VideoInfo, probe

__all__ = ["DecodedFrame", "DecodeStats", "KeyframeImage", "VideoError", "VideoInfo", "iter_frames", "probe",
           "scaled_size"]
