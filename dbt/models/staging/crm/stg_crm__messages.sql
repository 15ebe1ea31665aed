with source as (
    select * from {{ source('crm', 'messages') }}
),

renamed as (
    select
        message_id,
        split,
        text as message_text,
        label as intent,
        text_length,
        has_non_ascii,
        is_near_duplicate
    from source
)

select * from renamed
