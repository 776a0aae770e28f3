-- Group buys are mostly food and household goods, which the original's second-hand market
-- categories did not have (딸기 and 계란 landed in 가공식품), nor did its units (rolls, litres,
-- eggs, bags). The original 18 categories and 12 units keep their ids and names.
INSERT INTO categories (id, name) VALUES
    (19, '과일·채소'),
    (20, '정육·계란'),
    (21, '수산·건어물'),
    (22, '쌀·잡곡'),
    (23, '생수·음료'),
    (24, '유제품·간식'),
    (25, '생활용품');
INSERT INTO units (name, position) VALUES
    ('롤', 13),
    ('L', 14),
    ('ml', 15),
    ('구', 16),
    ('봉', 17);
