// Sizes shared by the log server and client.

/** Largest gRPC message either side accepts (an Append batch or a Read batch). */
export const MAX_MESSAGE_BYTES = 80 * 1024 * 1024;
