/*
 * A plain C reference for the Nous LLM engine's decode loop: the same Llama forward pass
 * (RMSNorm, grouped-query attention with a KV cache, Hugging Face half-split RoPE, SwiGLU,
 * untied head), one token at a time, greedy, in f32, with loops written the way a C
 * programmer writes them and left to the compiler (-O3 -march=native -ffast-math vectorises
 * them). Written for this project as a yardstick in the style of llama2.c's run.c, not copied
 * from it. `nous-llm peer-bench` exports the weights (`--export`), builds this file with cc and
 * times both engines on the same work in alternating rounds.
 *
 * usage: llama_decode WEIGHTS POSITIONS REPS START
 * WEIGHTS: 9 int32 (hidden, intermediate, layers, heads, kv_heads, vocab, max_positions,
 * head_dim, tied) + 2 float32 (rope_theta, rms_eps) + the f32 tensors in the order of
 * `LlamaConfig::tensor_shapes` (row-major [out, in]).
 * START is the first token fed (the model's BOS). Prints the greedy tokens of the first rep and the seconds of the fastest and of all reps.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int dim, inter, layers, heads, kv_heads, vocab, max_pos, hd, tied;
    float theta, eps;
} Config;

typedef struct {
    float *attn_norm, *q, *k, *v, *o, *mlp_norm, *gate, *up, *down;
} Layer;

static void die(const char *msg) {
    fprintf(stderr, "llama_decode: %s\n", msg);
    exit(2);
}

static float *take(float **cursor, float *end, size_t n) {
    if ((size_t)(end - *cursor) < n) die("weights file is truncated");
    float *p = *cursor;
    *cursor += n;
    return p;
}

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / n + eps);
    for (int i = 0; i < n; i++) out[i] = w[i] * (x[i] * inv);
}

/* out[r] = sum_c w[r * n_in + c] * x[c] */
static void matvec(float *out, const float *x, const float *w, int n_in, int n_out) {
    for (int r = 0; r < n_out; r++) {
        const float *row = w + (size_t)r * n_in;
        float s = 0.0f;
        for (int c = 0; c < n_in; c++) s += row[c] * x[c];
        out[r] = s;
    }
}

static void rope(float *head, int hd, int pos, float theta) {
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)hd);
        float ang = (float)pos * inv_freq, c = cosf(ang), s = sinf(ang);
        float a = head[i], b = head[i + half];
        head[i] = a * c - b * s;
        head[i + half] = b * c + a * s;
    }
}

int main(int argc, char **argv) {
    if (argc != 5) die("usage: llama_decode WEIGHTS POSITIONS REPS START");
    int positions = atoi(argv[2]), reps = atoi(argv[3]), start_token = atoi(argv[4]);
    FILE *f = fopen(argv[1], "rb");
    if (!f) die("cannot open the weights file");
    int32_t h[9];
    float hf[2];
    if (fread(h, 4, 9, f) != 9 || fread(hf, 4, 2, f) != 2) die("short header");
    Config c = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], hf[0], hf[1]};
    if (c.dim <= 0 || c.heads <= 0 || c.kv_heads <= 0 || c.heads % c.kv_heads || c.hd <= 0 ||
        c.vocab <= 0 || c.layers <= 0 || c.inter <= 0 || c.max_pos <= 0)
        die("bad header");
    if (positions < 1 || positions > c.max_pos || reps < 1 || start_token < 0 ||
        start_token >= c.vocab)
        die("bad POSITIONS, REPS or START");
    long start = ftell(f);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f) - start;
    fseek(f, start, SEEK_SET);
    float *data = malloc(bytes);
    if (!data || fread(data, 1, bytes, f) != (size_t)bytes) die("cannot read the tensors");
    fclose(f);
    float *cur = data, *end = data + bytes / 4;
    int dim = c.dim, qd = c.heads * c.hd, kv = c.kv_heads * c.hd;
    float *embed = take(&cur, end, (size_t)c.vocab * dim);
    Layer *L = calloc(c.layers, sizeof(Layer));
    for (int l = 0; l < c.layers; l++) {
        L[l].attn_norm = take(&cur, end, dim);
        L[l].q = take(&cur, end, (size_t)qd * dim);
        L[l].k = take(&cur, end, (size_t)kv * dim);
        L[l].v = take(&cur, end, (size_t)kv * dim);
        L[l].o = take(&cur, end, (size_t)dim * qd);
        L[l].mlp_norm = take(&cur, end, dim);
        L[l].gate = take(&cur, end, (size_t)c.inter * dim);
        L[l].up = take(&cur, end, (size_t)c.inter * dim);
        L[l].down = take(&cur, end, (size_t)dim * c.inter);
    }
    float *norm = take(&cur, end, dim);
    float *head = c.tied ? embed : take(&cur, end, (size_t)c.vocab * dim);
    if (cur != end) die("weights file has trailing data");

    float *x = malloc(dim * 4), *xn = malloc(dim * 4), *q = malloc(qd * 4), *att = malloc(qd * 4);
    float *proj = malloc(dim * 4), *g = malloc(c.inter * 4), *u = malloc(c.inter * 4);
    float *scores = malloc(positions * 4), *logits = malloc(c.vocab * 4);
    float *kc = malloc((size_t)c.layers * positions * kv * 4);
    float *vc = malloc((size_t)c.layers * positions * kv * 4);
    int *tokens = malloc(positions * sizeof(int));
    float scale = 1.0f / sqrtf((float)c.hd);
    int group = c.heads / c.kv_heads;
    double best = 1e30, total = 0.0;
    for (int rep = 0; rep < reps; rep++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int token = start_token;
        for (int pos = 0; pos < positions; pos++) {
            memcpy(x, embed + (size_t)token * dim, dim * 4);
            for (int l = 0; l < c.layers; l++) {
                float *kl = kc + (size_t)l * positions * kv, *vl = vc + (size_t)l * positions * kv;
                rmsnorm(xn, x, L[l].attn_norm, dim, c.eps);
                matvec(q, xn, L[l].q, dim, qd);
                matvec(kl + (size_t)pos * kv, xn, L[l].k, dim, kv);
                matvec(vl + (size_t)pos * kv, xn, L[l].v, dim, kv);
                for (int hh = 0; hh < c.heads; hh++) rope(q + hh * c.hd, c.hd, pos, c.theta);
                for (int hh = 0; hh < c.kv_heads; hh++)
                    rope(kl + (size_t)pos * kv + hh * c.hd, c.hd, pos, c.theta);
                for (int hh = 0; hh < c.heads; hh++) {
                    int kvh = hh / group;
                    const float *qh = q + hh * c.hd;
                    float mx = -1e30f;
                    for (int s = 0; s <= pos; s++) {
                        const float *kr = kl + (size_t)s * kv + kvh * c.hd;
                        float d = 0.0f;
                        for (int i = 0; i < c.hd; i++) d += qh[i] * kr[i];
                        scores[s] = d * scale;
                        if (scores[s] > mx) mx = scores[s];
                    }
                    float sum = 0.0f;
                    for (int s = 0; s <= pos; s++) {
                        scores[s] = expf(scores[s] - mx);
                        sum += scores[s];
                    }
                    float *out = att + hh * c.hd;
                    memset(out, 0, c.hd * 4);
                    for (int s = 0; s <= pos; s++) {
                        const float *vr = vl + (size_t)s * kv + kvh * c.hd;
                        float p = scores[s] / sum;
                        for (int i = 0; i < c.hd; i++) out[i] += p * vr[i];
                    }
                }
                matvec(proj, att, L[l].o, qd, dim);
                for (int i = 0; i < dim; i++) x[i] += proj[i];
                rmsnorm(xn, x, L[l].mlp_norm, dim, c.eps);
                matvec(g, xn, L[l].gate, dim, c.inter);
                matvec(u, xn, L[l].up, dim, c.inter);
                for (int i = 0; i < c.inter; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
                matvec(proj, g, L[l].down, c.inter, dim);
                for (int i = 0; i < dim; i++) x[i] += proj[i];
            }
            rmsnorm(xn, x, norm, dim, c.eps);
            matvec(logits, xn, head, dim, c.vocab);
            int arg = 0;
            for (int i = 1; i < c.vocab; i++)
                if (logits[i] > logits[arg]) arg = i;
            tokens[pos] = arg;
            token = arg;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        total += secs;
        if (secs < best) best = secs;
        if (rep == 0) {
            printf("tokens");
            for (int i = 0; i < positions; i++) printf(" %d", tokens[i]);
            printf("\n");
        }
    }
    printf("seconds best %.9f total %.9f reps %d positions %d\n", best, total, reps, positions);
    return 0;
}
