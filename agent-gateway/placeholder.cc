// Module placeholder; replaced by the real sources.
