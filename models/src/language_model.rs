//! A decoder-only language model on the [`Transformer`] trunk: built fresh from a config (to
//! train from scratch), or loaded from a Hugging Face Llama or Qwen2 checkpoint folder
//! (`config.json`, `*.safetensors`, `tokenizer.json`) — the loader reads the folder's config,
//! maps its tensors onto the trunk's names one by one and checks every shape.

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::transformer::{KvCache, Transformer, TransformerConfig};
use crate::{Error, ParamStore, Result};

/// A decoder-only language model: the [`Transformer`] trunk and `lm_head` to the vocabulary.
/// Built fresh from a config (to train from scratch) or loaded from a Hugging Face Llama
/// checkpoint folder ([`LanguageModel::from_pretrained`]).
pub struct LanguageModel {
    params: ParamStore,
    trunk: Transformer,
    lm_head: Tensor,
    tokenizer: Option<tokenizers::Tokenizer>,
}

impl std::fmt::Debug for LanguageModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageModel").field("trunk", &self.trunk).finish_non_exhaustive()
    }
}

/// The fields of a Hugging Face `config.json` this loader reads (others are ignored).
#[derive(Debug, Deserialize)]
#[expect(clippy::struct_excessive_bools, reason = "it mirrors the flags of config.json")]
struct HfConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    rope_theta: Option<f64>,
    rope_parameters: Option<serde_json::Value>,
    rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    tie_word_embeddings: bool,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default)]
    use_sliding_window: bool,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    hidden_act: Option<String>,
}

impl LanguageModel {
    /// A fresh model (`lm_head` maps `d_model` to `config.vocab`).
    pub fn new(config: &TransformerConfig, device: &Device, seed: u64) -> Result<Self> {
        let mut params = ParamStore::new(device, seed);
        let trunk = Transformer::new(&mut params, config)?;
        let bound = 1.0 / (config.d_model as f64).sqrt();
        let lm_head = params.uniform("lm_head.weight", &[config.vocab, config.d_model], bound)?;
        Ok(Self { params, trunk, lm_head, tokenizer: None })
    }

    /// Load a Hugging Face Llama or Qwen2 checkpoint folder: `config.json`, `*.safetensors` (one
    /// file or shards) and, when present, `tokenizer.json`. Every parameter must be present with its shape; a tensor this
    /// architecture does not have, an unsupported setting (biases beyond Qwen2's, RoPE
    /// scaling, sliding windows, another
    /// activation or model type) or a missing file is an error naming it, and nothing is
    /// half-loaded.
    pub fn from_pretrained(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let bad = |m: String| Error::Checkpoint { path: dir.display().to_string(), message: m };
        let cfg_path = dir.join("config.json");
        let text = spelunk_core::files::read_text(&cfg_path)
            .map_err(|e| bad(format!("reading {}: {e}", cfg_path.display())))?;
        let hf: HfConfig =
            serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", cfg_path.display())))?;
        // Qwen2 is Llama with biases on the query, key and value projections.
        let qwen2 = hf.model_type.as_deref() == Some("qwen2");
        if let Some(t) = hf.model_type.as_deref().filter(|t| !matches!(*t, "llama" | "qwen2")) {
            return Err(bad(format!("model_type `{t}` is not supported (llama and qwen2 are)")));
        }
        if hf.attention_bias || hf.mlp_bias {
            return Err(bad("attention or MLP biases are not supported (beyond Qwen2's)".into()));
        }
        if hf.use_sliding_window || hf.layer_types.iter().flatten().any(|t| t != "full_attention") {
            return Err(bad("sliding-window attention is not supported".into()));
        }
        if let Some(act) = hf.hidden_act.as_deref().filter(|a| *a != "silu") {
            return Err(bad(format!("hidden_act `{act}` is not supported (silu is)")));
        }
        if hf.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(bad("rope_scaling is not supported".into()));
        }
        let mut rope_theta = hf.rope_theta.unwrap_or(10_000.0);
        if let Some(p) = hf.rope_parameters.as_ref().filter(|v| !v.is_null()) {
            if let Some(kind) =
                p.get("rope_type").and_then(|v| v.as_str()).filter(|k| *k != "default")
            {
                return Err(bad(format!("rope_type `{kind}` is not supported (default is)")));
            }
            if let Some(t) = p.get("rope_theta").and_then(serde_json::Value::as_f64) {
                rope_theta = t;
            }
        }
        if let Some(hd) = hf.head_dim.filter(|hd| hd * hf.num_attention_heads != hf.hidden_size) {
            return Err(bad(format!(
                "head_dim {hd} × {} heads ≠ hidden_size {}",
                hf.num_attention_heads, hf.hidden_size
            )));
        }
        let config = TransformerConfig {
            vocab: hf.vocab_size,
            d_model: hf.hidden_size,
            layers: hf.num_hidden_layers,
            heads: hf.num_attention_heads,
            kv_heads: hf.num_key_value_heads,
            ffn: hf.intermediate_size,
            rope_theta,
            norm_eps: hf.rms_norm_eps,
            qkv_bias: qwen2,
        };
        let model = Self::new(&config, device, 0)?;
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| bad(format!("listing {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(bad("no .safetensors file".into()));
        }
        let mut tensors = std::collections::HashMap::new();
        for f in &files {
            let loaded = candle_core::safetensors::load(f, device)
                .map_err(|e| bad(format!("{}: {e}", f.display())))?;
            tensors.extend(loaded);
        }
        if hf.tie_word_embeddings && !tensors.contains_key("lm_head.weight") {
            if let Some(e) = tensors.get("model.embed_tokens.weight").cloned() {
                tensors.insert("lm_head.weight".into(), e);
            }
        }
        // Check everything first, then copy, so a bad checkpoint changes nothing.
        let mut values = Vec::new();
        for (name, var) in model.params.named() {
            let t = tensors.remove(name).ok_or_else(|| bad(format!("missing tensor `{name}`")))?;
            if t.dims() != var.dims() {
                return Err(bad(format!(
                    "`{name}` is {:?}, the model needs {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            values.push((var.clone(), t.to_dtype(DType::F32)?));
        }
        let mut extra: Vec<String> =
            tensors.into_keys().filter(|k| !k.ends_with("rotary_emb.inv_freq")).collect();
        if !extra.is_empty() {
            extra.sort();
            return Err(bad(format!(
                "tensors this architecture does not have: {}",
                extra.join(", ")
            )));
        }
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = if tok_path.exists() {
            Some(
                tokenizers::Tokenizer::from_file(&tok_path)
                    .map_err(|e| bad(format!("{}: {e}", tok_path.display())))?,
            )
        } else {
            None
        };
        for (var, t) in values {
            var.set(&t)?;
        }
        Ok(Self { tokenizer, ..model })
    }

    /// A fresh model whose vocabulary is `tokenizer`'s (a `tokenizer.json` file).
    pub fn fresh_with_tokenizer(
        config: &TransformerConfig,
        tokenizer: &std::path::Path,
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        let tok = tokenizers::Tokenizer::from_file(tokenizer).map_err(|e| Error::Checkpoint {
            path: tokenizer.display().to_string(),
            message: e.to_string(),
        })?;
        let config = TransformerConfig { vocab: tok.get_vocab_size(true), ..config.clone() };
        Ok(Self { tokenizer: Some(tok), ..Self::new(&config, device, seed)? })
    }

    /// The tokenizer loaded with the checkpoint, if it had one.
    pub fn tokenizer(&self) -> Option<&tokenizers::Tokenizer> {
        self.tokenizer.as_ref()
    }

    fn need_tokenizer(&self) -> Result<&tokenizers::Tokenizer> {
        self.tokenizer
            .as_ref()
            .ok_or_else(|| Error::Config("this model has no tokenizer (no tokenizer.json)".into()))
    }

    /// Token ids of `text` (no special tokens added); ids outside the model's vocabulary are
    /// an error.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .need_tokenizer()?
            .encode(text, false)
            .map_err(|e| Error::Config(format!("tokenizing {text:?}: {e}")))?;
        let vocab = self.trunk.config().vocab;
        if let Some(id) = enc.get_ids().iter().find(|&&i| i as usize >= vocab) {
            return Err(Error::Config(format!(
                "the tokenizer gave id {id}, the model has {vocab}"
            )));
        }
        Ok(enc.get_ids().to_vec())
    }

    /// The text of token ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.need_tokenizer()?
            .decode(ids, false)
            .map_err(|e| Error::Config(format!("decoding {ids:?}: {e}")))
    }

    /// The sizes.
    pub fn config(&self) -> &TransformerConfig {
        self.trunk.config()
    }

    /// The parameters.
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Next-token logits at every position: `[batch, time]` ids → `[batch, time, vocab]`.
    pub fn logits(&self, tokens: &Tensor) -> Result<Tensor> {
        let hidden = self.trunk.forward(tokens)?;
        Ok(hidden.broadcast_matmul(&self.lm_head.t()?)?)
    }

    /// Logits `[batch, time, vocab]` of `tokens` continuing the sequences in `cache`
    /// ([`Transformer::forward_cached`]); for generation, not for training.
    pub fn logits_cached(&self, tokens: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let hidden = self.trunk.forward_cached(&tokens.detach(), cache)?.detach();
        Ok(hidden.broadcast_matmul(&self.lm_head.t()?)?.detach())
    }
}
