/* SPDX-License-Identifier: Apache-2.0 */
#include "vm/https.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
	struct skr_buf *buf;
	size_t cap, max;
	bool overflow;
};

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	size_t len = size * n;
	uint8_t *grown;

	if (len > s->max || s->buf->len > s->max - len) {
		s->overflow = true;
		return 0;	/* aborts the transfer */
	}
	if (s->buf->len + len + 1 > s->cap) {
		s->cap = (s->buf->len + len + 1) * 2;
		grown = realloc(s->buf->data, s->cap);
		if (!grown)
			return 0;
		s->buf->data = grown;
	}
	memcpy(s->buf->data + s->buf->len, data, len);
	s->buf->len += len;
	s->buf->data[s->buf->len] = 0;
	return len;
}

static int request(const char *method, const char *base_url, const char *path, const char *body,
		   const char *bearer, const struct skr_https_ca *ca, unsigned connect_ms,
		   unsigned total_ms, size_t max, long *status, struct skr_buf *resp,
		   struct skr_err *err)
{
	struct curl_slist *headers = NULL;
	struct sink sink = { .buf = resp, .max = max };
	char url[2048];
	char *auth = NULL;
	CURLcode rc;
	CURL *curl;

	pthread_once(&curl_once, curl_init_once);
	skr_buf_free(resp);
	*status = 0;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", base_url, path) >= sizeof(url))
		return skr_fail(err, SKR_R_usage, "broker URL is too long");
	curl = curl_easy_init();
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (bearer) {
		size_t n = strlen(bearer) + sizeof("Authorization: Bearer ");

		auth = malloc(n);
		if (auth) {
			snprintf(auth, n, "Authorization: Bearer %s", bearer);
			struct curl_slist *h = curl_slist_append(headers, auth);

			if (h)
				headers = h;
			else
				curl_slist_free_all(headers), headers = NULL;
		}
	}
	if (!curl || (body && !headers) || (bearer && (!auth || !headers))) {
		curl_slist_free_all(headers);
		curl_easy_cleanup(curl);
		if (auth) {
			OPENSSL_cleanse(auth, strlen(auth));
			free(auth);
		}
		return skr_fail(err, SKR_R_nomem, "cannot set up libcurl");
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	/* HTTPS only, the configured CA only, no redirects, no proxy surprises. */
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	if (ca->pem) {
		struct curl_blob blob = { .data = (void *)ca->pem, .len = strlen(ca->pem),
					  .flags = CURL_BLOB_COPY };

		curl_easy_setopt(curl, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
	} else {
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca->file);
	}
	curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)total_ms);
	if (headers)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (body)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	if (strcmp(method, body ? "POST" : "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	/* A Content-Length beyond the bound ends the transfer before the body;
	 * without one, on_data stops at the bound. */
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	if (auth) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
		skr_buf_free(resp);
		return skr_fail(err, SKR_R_broker_protocol, "%s answered more than %zu bytes", base_url,
				max);
	}
	if (rc != CURLE_OK)
		return skr_fail(err, SKR_R_broker_unreachable, "%s: %s", base_url,
				curl_easy_strerror(rc));
	return 0;
}

int skr_https_request(const char *method, const char *base_url, const char *path,
		       const char *body, const char *bearer, const struct skr_https_ca *ca,
		       unsigned connect_ms, unsigned total_ms, long *status, struct skr_buf *resp,
		       struct skr_err *err)
{
	return request(method, base_url, path, body, bearer, ca, connect_ms, total_ms,
		       SKR_HTTPS_MAX_RESPONSE, status, resp, err);
}

int skr_https_post_json(const char *base_url, const char *path, const char *body,
			const struct skr_https_ca *ca, unsigned connect_ms, unsigned total_ms,
			long *status, struct skr_buf *resp, struct skr_err *err)
{
	return request("POST", base_url, path, body, NULL, ca, connect_ms, total_ms,
		       SKR_HTTPS_MAX_ANSWER, status, resp, err);
}
