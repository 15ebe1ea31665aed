{#- Fails when the model has fewer than `min_rows` rows. -#}
{% test at_least_rows(model, min_rows) %}
select count(*) as row_count from {{ model }} having count(*) < {{ min_rows }}
{% endtest %}
