// Sizes shared by the log server and client.

/** Largest gRPC message either side accepts (an Append batch or a Read batch). */
export const MAX_MESSAGE_BYTES = 80 * 1024 * 1024;

/** HTTP/2 flow-control window (per stream and per connection) both sides ask for. */
export const FLOW_WINDOW = 16 * 1024 * 1024;

/** HTTP/2 DATA frame size the server accepts (default 16 KiB means one socket read per 16 KiB). */
export const MAX_FRAME = 1024 * 1024;

/** Largest encoded record accepted (frames on disk are bounded well above this). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
