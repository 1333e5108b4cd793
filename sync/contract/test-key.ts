/**
 * The public half of the test key published in docs/protocol.md (RFC 8032 §7.1 TEST 1): anyone can
 * sign with it, so a unit refuses to pin it unless told it runs a test (`signature.allowTestKey`).
 * sync/contract/vectors.ts derives the same key from the seed; a test checks they agree.
 */
export const TEST_PUBLIC_KEY_BASE64 = '11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=';
