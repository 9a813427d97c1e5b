-- The control points of a set of fields, in field and point order.
-- Parameters: one FLD_ID per marker. The placeholder of the IN list becomes one parameter
-- marker per field (radonc_assets.backup.mosaiq.queries.control_points_sql): only markers are
-- ever put into this text, never a value. [Index] is a reserved word, hence the brackets.
SELECT
    TxFieldPoint.FLD_ID AS FLD_ID,
    TxFieldPoint.Point AS Point,
    TxFieldPoint.[Index] AS Meterset_Index,
    TxFieldPoint.Energy AS Energy,
    TxFieldPoint.Energy_Unit_Enum AS Energy_Unit_Enum,
    TxFieldPoint.Gantry_Ang AS Gantry_Ang,
    TxFieldPoint.Gantry_Dir_Enum AS Gantry_Dir_Enum,
    TxFieldPoint.Coll_Ang AS Coll_Ang,
    TxFieldPoint.Coll_Dir_Enum AS Coll_Dir_Enum,
    TxFieldPoint.Couch_Ang AS Couch_Ang,
    TxFieldPoint.Couch_Roll_Dir_Enum AS Couch_Roll_Dir_Enum,
    TxFieldPoint.Couch_Vrt AS Couch_Vrt,
    TxFieldPoint.Couch_Lng AS Couch_Lng,
    TxFieldPoint.Couch_Lat AS Couch_Lat,
    TxFieldPoint.MLC_Leaves AS MLC_Leaves,
    TxFieldPoint.A_Leaf_Set AS A_Leaf_Set,
    TxFieldPoint.B_Leaf_Set AS B_Leaf_Set,
    TxFieldPoint.Coll_X1 AS Coll_X1,
    TxFieldPoint.Coll_X2 AS Coll_X2,
    TxFieldPoint.Coll_Y1 AS Coll_Y1,
    TxFieldPoint.Coll_Y2 AS Coll_Y2
FROM TxFieldPoint
WHERE TxFieldPoint.FLD_ID IN ({field_id_markers})
ORDER BY TxFieldPoint.FLD_ID, TxFieldPoint.Point
