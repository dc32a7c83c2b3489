/** The reviews pack: the shop loads it only while it is enabled (see lockstep's packs()). */
export const name = "reviews";
