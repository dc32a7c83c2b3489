/**
 * Picks the transport for a feed location: an `http(s)://` URL is read over
 * HTTP, anything else is a folder.
 *
 * @module
 */
import { isHttp } from "./config.ts";
import { folderSource } from "./folder.ts";
import { httpSource } from "./http.ts";
import type { FeedSource, SourceOptions } from "./transport.ts";

/** The source for a feed location (an `http(s)://` URL or a folder). */
export function openSource(location: string, options: SourceOptions): FeedSource {
  return isHttp(location) ? httpSource(location, options) : folderSource(location);
}
