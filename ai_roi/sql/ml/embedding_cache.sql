-- Sentence embeddings already computed, keyed by model and text, so reruns skip the encoder.
create schema if not exists ml;
create table if not exists ml.text_embeddings (
    key varchar primary key,
    model varchar not null,
    embedding float[384] not null
);
